import GRPCCore

/// Keeps the `grpc-message` of every error a server sends short. Messages name the offending value, and a
/// value can be a megabyte long: a header that size exceeds the client's header list limit, which resets the
/// whole connection and every other call on it (seen with a 1 MiB CID in a NOT_FOUND). Longer messages are
/// cut, on a character boundary, and say how long they were.
public struct StatusMessageLimitInterceptor: ServerInterceptor {
    public static let maximumBytes = 1024

    public init() {}

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        var response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch let error as RPCError {
            throw Self.limited(error)
        }
        switch response.accepted {
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    return try await producer(writer)
                } catch let error as RPCError {
                    throw Self.limited(error)
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            response.accepted = .failure(Self.limited(error))
        }
        return response
    }

    static func limited(_ error: RPCError) -> RPCError {
        let bytes = error.message.utf8.count
        guard bytes > maximumBytes else { return error }
        var message = ""
        for character in error.message {
            guard message.utf8.count + character.utf8.count <= maximumBytes - 40 else { break }
            message.append(character)
        }
        var limited = error
        limited.message = message + "… (message of \(bytes) bytes cut)"
        return limited
    }
}
