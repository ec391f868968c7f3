import Foundation

/// What one scrape of a process's `/metrics` says about its traffic and limits, added up over methods
/// (a service's RPCs) or routes (the gateway's).
public struct TrafficReading: Sendable, Equatable {
    public var at: Date
    /// Calls counted since the process started.
    public var requests: Double = 0
    /// Calls that ended with a status other than OK.
    public var errors: Double = 0
    /// Cumulative duration histogram: upper bound (seconds) → calls that took at most that long.
    public var buckets: [Double: Double] = [:]
    /// Limiter name → (in use, limit).
    public var limiters: [String: (inUse: Double, limit: Double?)] = [:]
    /// Dependency → up.
    public var dependencies: [String: Bool] = [:]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.at == rhs.at && lhs.requests == rhs.requests && lhs.errors == rhs.errors && lhs.buckets == rhs.buckets
            && lhs.dependencies == rhs.dependencies
            && lhs.limiters.mapValues { [$0.inUse, $0.limit ?? -1] } == rhs.limiters.mapValues { [$0.inUse, $0.limit ?? -1] }
    }

    public init(at: Date, samples: [MetricSample]) {
        self.at = at
        for sample in samples where sample.value.isFinite || sample.name.hasSuffix("_bucket") {
            switch sample.name {
            case "wharf_grpc_requests_total", "wharf_gateway_requests_total":
                requests += sample.value
            case "wharf_grpc_errors_total":
                errors += sample.value
            case "wharf_gateway_responses_total" where sample.labels["grpc_status"] != "0":
                errors += sample.value
            case "wharf_grpc_request_duration_seconds_bucket", "wharf_gateway_request_duration_seconds_bucket":
                guard let bound = sample.labels["le"].flatMap({ PrometheusText.parseValue(Substring($0)) }), sample.value.isFinite else { continue }
                buckets[bound, default: 0] += sample.value
            case "wharf_limiter_slots_in_use":
                guard let name = sample.labels["limiter"] else { continue }
                limiters[name, default: (0, nil)].inUse = sample.value
            case "wharf_limiter_slots_limit":
                guard let name = sample.labels["limiter"] else { continue }
                limiters[name, default: (0, nil)].limit = sample.value
            case "wharf_dependency_up":
                guard let name = sample.labels["dependency"] else { continue }
                dependencies[name] = sample.value >= 1
            default:
                continue
            }
        }
    }
}

/// Rates between two readings of the same process.
public struct TrafficRates: Sendable, Equatable {
    public var requestsPerSecond: Double
    /// Errors per call, 0 when there were no calls.
    public var errorRatio: Double
    /// The 99th percentile duration in seconds (interpolated in its bucket, as PromQL's histogram_quantile),
    /// nil when there were no calls.
    public var p99: Double?

    /// nil when the readings are not in order or a counter went down (the process restarted in between).
    public init?(from earlier: TrafficReading, to later: TrafficReading) {
        let seconds = later.at.timeIntervalSince(earlier.at)
        let calls = later.requests - earlier.requests
        guard seconds > 0, calls >= 0, later.errors >= earlier.errors else { return nil }
        requestsPerSecond = calls / seconds
        errorRatio = calls > 0 ? min(1, (later.errors - earlier.errors) / calls) : 0
        var increase: [Double: Double] = [:]
        for (bound, count) in later.buckets { increase[bound] = max(0, count - (earlier.buckets[bound] ?? 0)) }
        p99 = Self.quantile(0.99, buckets: increase)
    }

    /// The `q` quantile of a cumulative histogram (bound → count), as histogram_quantile computes it.
    static func quantile(_ q: Double, buckets: [Double: Double]) -> Double? {
        let sorted = buckets.sorted { $0.key < $1.key }
        guard let total = sorted.last?.value, total > 0 else { return nil }
        let rank = q * total
        var previousBound = 0.0
        var previousCount = 0.0
        for (bound, count) in sorted {
            if count >= rank {
                if bound.isInfinite { return previousBound }
                let inBucket = count - previousCount
                guard inBucket > 0 else { return bound }
                return previousBound + (bound - previousBound) * (rank - previousCount) / inBucket
            }
            previousBound = bound
            previousCount = count
        }
        return previousBound
    }
}
