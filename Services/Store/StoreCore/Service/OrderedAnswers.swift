import GRPCCore

/// Answers a request stream the way upstream's handlers do — the N-th request gets the N-th response,
/// and the first error ends the stream with its status after every earlier response was sent — while
/// working on up to `window` requests at once (a stream of lookups is not one database round trip per
/// message end to end). A request is checked synchronously by `prepare`; a failed check stops reading, so
/// nothing after an invalid request runs.
enum OrderedAnswers {
    typealias Operation<Response> = @Sendable () async throws -> Response?

    static func answer<Request: Sendable, Response: Sendable>(
        _ requests: RPCAsyncSequence<Request, any Error>,
        into writer: RPCWriter<Response>,
        window: Int,
        prepare: (Request) throws -> Operation<Response>
    ) async throws {
        var pending: [Task<Response?, any Error>] = []
        defer { for task in pending { task.cancel() } }

        func sendOldest() async throws {
            let oldest = pending.removeFirst()
            if let response = try await oldest.value { try await writer.write(response) }
        }

        do {
            for try await request in requests {
                let operation = try prepare(request)
                pending.append(Task { try await operation() })
                if pending.count >= window { try await sendOldest() }
            }
        } catch {
            // Answer what was accepted before the failing request, then end with its error.
            while !pending.isEmpty { try await sendOldest() }
            throw error
        }
        while !pending.isEmpty { try await sendOldest() }
    }
}
