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
    private let factory: any MetricsFactory

    /// `factory`: the process's Prometheus factory (explicit, so that an in-process gateway reports to its
    /// own registry rather than the global metrics system).
    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func record(route name: String, status: Int?, duration: TimeAmount, requestBytes: Int, responseBytes: Int) {
        let route = handles.withLock { handles in
            if let existing = handles[name] { return existing }
            let dimensions = [("route", name)]
            let created = Handles(
                requests: Counter(label: "wharf_gateway_requests_total", dimensions: dimensions, factory: factory),
                latency: Timer(label: "wharf_gateway_request_duration_seconds", dimensions: dimensions, factory: factory),
                bytesIn: Counter(label: "wharf_gateway_request_bytes_total", dimensions: dimensions, factory: factory),
                bytesOut: Counter(label: "wharf_gateway_response_bytes_total", dimensions: dimensions, factory: factory))
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
            let created = Counter(label: "wharf_gateway_responses_total", dimensions: [("route", name), ("grpc_status", code)], factory: factory)
            statuses[name + "|" + code] = created
            return created
        }
        responses.increment()
    }
}
