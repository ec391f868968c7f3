import Synchronization

/// A token bucket per caller (by remote address): at most `burst` at once, refilled at `perMinute`. The
/// number of callers remembered is bounded: when full, buckets that have refilled completely are forgotten
/// (they hold nothing a new bucket would not), and then the oldest.
public final class KeyedRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let burst: Int
    public let perMinute: Int
    private let maximumKeys: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(burst: Int, perMinute: Int, maximumKeys: Int = 10_000) {
        self.burst = max(1, burst)
        self.perMinute = max(1, perMinute)
        self.maximumKeys = max(1, maximumKeys)
    }

    /// Takes one token of `key`'s bucket; false when it is empty.
    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        let capacity = Double(burst)
        let rate = Double(perMinute) / 60
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = max(
                0,
                Double((now - bucket.updated).components.seconds)
                    + Double((now - bucket.updated).components.attoseconds) / 1e18)
            bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                buckets[key] = bucket
                return false
            }
            bucket.tokens -= 1
            if buckets[key] == nil, buckets.count >= maximumKeys { Self.evict(&buckets, now: now, capacity: capacity, rate: rate) }
            buckets[key] = bucket
            return true
        }
    }

    /// Callers remembered now (for tests and metrics).
    public var keyCount: Int { buckets.withLock { $0.count } }

    private static func evict(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant, capacity: Double, rate: Double) {
        let full = buckets.filter { _, bucket in
            let elapsed = Double((now - bucket.updated).components.seconds)
            return bucket.tokens + elapsed * rate >= capacity
        }.map(\.key)
        for key in full { buckets[key] = nil }
        if buckets.count >= 1, full.isEmpty, let oldest = buckets.min(by: { $0.value.updated < $1.value.updated })?.key {
            buckets[oldest] = nil
        }
    }

    /// The host part of a grpc-swift remote peer (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`): callers are told
    /// apart by address, not by port (a new connection must not get a new bucket).
    public static func callerKey(remotePeer: String) -> String {
        var text = Substring(remotePeer)
        if let colon = text.lastIndex(of: ":") { text = text[..<colon] }
        return String(text)
    }
}
