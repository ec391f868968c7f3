import CoreMetrics
import GRPCCore

/// Counts every RPC (`wharf_grpc_requests_total`), its failures by status code
/// (`wharf_grpc_errors_total`) and its duration until the response stream ends
/// (`wharf_grpc_request_duration_seconds`), labelled by method.
public struct RPCMetricsInterceptor: ServerInterceptor {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        let clock = ContinuousClock()
        let start = clock.now
        Counter(label: "wharf_grpc_requests_total", dimensions: [("method", method)], factory: factory).increment()
        let record: @Sendable ((any Error)?) -> Void = { [factory] error in
            let elapsed = clock.now - start
            Timer(label: "wharf_grpc_request_duration_seconds", dimensions: [("method", method)], factory: factory)
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            if let error {
                let code = (error as? any RPCErrorConvertible)?.rpcErrorCode ?? .unknown
                Counter(
                    label: "wharf_grpc_errors_total", dimensions: [("method", method), ("code", "\(code)")],
                    factory: factory
                ).increment()
            }
        }
        let response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            record(error)
            throw error
        }
        switch response.accepted {
        case .failure(let error):
            record(error)
            return response
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    record(nil)
                    return trailers
                } catch {
                    record(error)
                    throw error
                }
            }
            return StreamingServerResponse(accepted: .success(contents))
        }
    }
}
