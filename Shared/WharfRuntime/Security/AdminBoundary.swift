import GRPCCore

/// The administrative boundary of a Wharf service: RPCs that change a node's configuration, reach out to an
/// address the caller chose, or see other clients' state need the node's admin token (`WHARF_ADMIN_TOKEN`),
/// sent as gRPC metadata `wharf-admin-token`. The check runs in the service itself, whatever is in front of
/// it (the gateway forwards the header unchanged), and on loopback too. Without a configured token those RPCs
/// are refused: an administrative call is never open by default.
public struct AdminBoundaryInterceptor: ServerInterceptor {
    public static let metadataKey = "wharf-admin-token"

    let token: SharedSecret?
    let methods: Set<MethodDescriptor>

    public init(token: SharedSecret?, methods: Set<MethodDescriptor>) {
        self.token = token
        self.methods = methods
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if methods.contains(context.descriptor), let refusal = Self.refusal(token: token, metadata: request.metadata, method: context.descriptor) {
            throw refusal
        }
        return try await next(request, context)
    }

    /// Whether `metadata` carries this node's admin token (a caller that may use places kept for this node's
    /// own services).
    public static func isCredentialed(_ metadata: Metadata, token: SharedSecret?) -> Bool {
        guard let token else { return false }
        let presented = Array(metadata[stringValues: metadataKey])
        return presented.count == 1 && token.matches(presented[0])
    }

    /// Why `metadata` does not carry the admin credential, or nil when it does.
    public static func refusal(token: SharedSecret?, metadata: Metadata, method: MethodDescriptor) -> RPCError? {
        let name = method.method
        guard let token else {
            return RPCError(
                code: .unauthenticated,
                message: "\(name) is an administrative RPC and this node has no admin token (set WHARF_ADMIN_TOKEN)")
        }
        let presented = Array(metadata[stringValues: metadataKey])
        guard let value = presented.first else {
            return RPCError(code: .unauthenticated, message: "\(name) is an administrative RPC: send the admin token as metadata \(metadataKey)")
        }
        guard presented.count == 1, token.matches(value) else {
            return RPCError(code: .unauthenticated, message: "\(name): the \(metadataKey) sent is not this node's admin token")
        }
        return nil
    }
}
