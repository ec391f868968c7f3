import CoreMetrics
import NIOCore
import Synchronization

/// Prometheus metrics per route: requests, statuses, latency and bytes. Metric handles are created once per
/// (route, status) and reused: looking them up through the factory on every call costs more than the call.
final class RouteMetrics: Sendable {
    private struct Handles {
        var requests: Counter
        var latency: Timer
        var bytesIn: Counter
        var bytesOut: Counter
    }

    private let handles = Mutex<[String: Handles]>([:])
    private let statuses = Mutex<[String: Counter]>([:])

    func record(route name: String, status: Int?, duration: TimeAmount, requestBytes: Int, responseBytes: Int) {
        let route = handles.withLock { handles in
            if let existing = handles[name] { return existing }
            let dimensions = [("route", name)]
            let created = Handles(
                requests: Counter(label: "wharf_gateway_requests_total", dimensions: dimensions),
                latency: Timer(label: "wharf_gateway_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds),
                bytesIn: Counter(label: "wharf_gateway_request_bytes_total", dimensions: dimensions),
                bytesOut: Counter(label: "wharf_gateway_response_bytes_total", dimensions: dimensions))
            handles[name] = created
            return created
        }
        route.requests.increment()
        route.latency.recordNanoseconds(duration.nanoseconds)
        route.bytesIn.increment(by: requestBytes)
        route.bytesOut.increment(by: responseBytes)
        let code = status.map(String.init) ?? "none"
        let responses = statuses.withLock { statuses in
            if let existing = statuses[name + "|" + code] { return existing }
            let created = Counter(label: "wharf_gateway_responses_total", dimensions: [("route", name), ("grpc_status", code)])
            statuses[name + "|" + code] = created
            return created
        }
        responses.increment()
    }
}
