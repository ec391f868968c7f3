import GRPCCore
import WharfRuntime

/// Who may call the NIP-77 session RPCs (`HandleNegOpen`, `HandleNegMsg`, `HandleNegClose`). They exist for a
/// relay front-end that speaks for its own WebSocket clients, so they take the front-end token
/// (`WHARF_NEGENTROPY_FRONTEND_TOKEN`, metadata `wharf-frontend-token`) or the admin token, checked here in
/// the service. Each credential names a namespace its sessions live in: a caller reaches only the sessions
/// it opened, never the relay's own or another credential's, whatever ids it sends.
struct FrontEndCredential: Sendable {
    static let metadataKey = "wharf-frontend-token"

    let frontEndToken: SharedSecret?
    let adminToken: SharedSecret?

    /// The namespace of the caller's sessions, or the refusal (UNAUTHENTICATED) naming what is missing.
    func namespace(of metadata: Metadata, method: String) throws(RPCError) -> String {
        let frontEnd = Array(metadata[stringValues: Self.metadataKey])
        if let frontEndToken, frontEnd.count == 1, frontEndToken.matches(frontEnd[0]) { return "grpc-frontend" }
        if AdminBoundaryInterceptor.isCredentialed(metadata, token: adminToken) { return "grpc-admin" }
        if frontEndToken == nil && adminToken == nil {
            throw RPCError(
                code: .unauthenticated,
                message: "\(method) speaks for relay clients and this node has no front-end token (set WHARF_NEGENTROPY_FRONTEND_TOKEN)")
        }
        if frontEnd.isEmpty && Array(metadata[stringValues: AdminBoundaryInterceptor.metadataKey]).isEmpty {
            throw RPCError(
                code: .unauthenticated, message: "\(method) speaks for relay clients: send the front-end token as metadata \(Self.metadataKey)")
        }
        throw RPCError(code: .unauthenticated, message: "\(method): the token sent is not this node's front-end or admin token")
    }

    /// The session registry's connection id of a caller's session: its namespace, then the id it sent.
    static func connectionID(_ id: String, in namespace: String) -> String { "\(namespace):\(id)" }
}
