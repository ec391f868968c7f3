import GRPCCore

/// Sends the admin token with every call of a client (wharfctl, peers' administrative calls, tests).
public struct AdminTokenClientInterceptor: ClientInterceptor {
    let token: SharedSecret

    public init(token: SharedSecret) {
        self.token = token
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString(token.text, forKey: AdminBoundaryInterceptor.metadataKey)
        return try await next(request, context)
    }
}
