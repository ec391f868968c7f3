import CoreMetrics
import GRPCCore
import Synchronization

/// A bounded number of places (reconciliations, watchers, uploads, sessions) that callers hold while they work.
///
/// Every place is given back on every path: `Slot.release()` is idempotent and a slot that is dropped
/// without it releases itself (`deinit`), so a stream reset before its handler ran, a cancelled task and
/// an error before the first message all return their place. `reservedForCredentialed` places are never
/// given to anonymous callers, so strangers can never take them all from this node's own services. The
/// count is exported as `wharf_limiter_slots_in_use{limiter="<name>"}` and its limit as
/// `wharf_limiter_slots_limit{limiter="<name>"}`.
public final class SlotLimiter: Sendable {
    public let name: String
    public let limit: Int
    public let reservedForCredentialed: Int
    private let inUse = Mutex(0)
    private let gauge: Gauge?

    public init(name: String, limit: Int, reservedForCredentialed: Int = 0, metrics: (any MetricsFactory)? = nil) {
        self.name = name
        self.limit = max(1, limit)
        self.reservedForCredentialed = min(max(0, reservedForCredentialed), max(0, limit - 1))
        gauge = metrics.map { Gauge(label: "wharf_limiter_slots_in_use", dimensions: [("limiter", name)], factory: $0) }
        gauge?.record(0)
        if let metrics { LimiterGauge.recordLimit(self.limit, of: name, metrics: metrics) }
    }

    /// Places held now.
    public var count: Int { inUse.withLock { $0 } }

    /// A place, or nil when every place this caller may use is taken.
    public func acquire(credentialed: Bool = false) -> Slot? {
        let ceiling = credentialed ? limit : limit - reservedForCredentialed
        let taken = inUse.withLock { count -> Int? in
            guard count < ceiling else { return nil }
            count += 1
            return count
        }
        guard let taken else { return nil }
        gauge?.record(taken)
        return Slot(limiter: self)
    }

    /// A place, or RESOURCE_EXHAUSTED naming the limit (`what`: "reconciliations are running", say).
    public func acquireOrRefuse(credentialed: Bool = false, _ what: String) throws -> Slot {
        guard let slot = acquire(credentialed: credentialed) else {
            let open = credentialed ? limit : limit - reservedForCredentialed
            throw RPCError(code: .resourceExhausted, message: "\(open) \(what); retry shortly")
        }
        return slot
    }

    fileprivate func giveBack() {
        let left = inUse.withLock { count -> Int in
            count = max(0, count - 1)
            return count
        }
        gauge?.record(left)
    }

    /// One place; given back by `release()` or when dropped.
    public final class Slot: Sendable {
        private let limiter: SlotLimiter
        private let released = Atomic(false)

        fileprivate init(limiter: SlotLimiter) { self.limiter = limiter }

        public func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            limiter.giveBack()
        }

        deinit { release() }
    }
}

/// When the caller of a stream last made progress (a message read or written); `IdleWatchdog.run` ends
/// the stream when it has made none for the idle limit.
public final class StreamActivity: Sendable {
    private struct State {
        var last = ContinuousClock.now
        /// Work of the server's own under way: the stream is not idle while it runs.
        var working = 0
    }

    private let state = Mutex(State())
    public init() {}
    public func touch() { state.withLock { $0.last = .now } }

    /// How long the stream has waited for its caller (zero while the server itself works for it).
    public var idle: Duration {
        state.withLock { $0.working > 0 ? .zero : ContinuousClock.now - $0.last }
    }

    /// The server's own work for the stream begins (storing what it sent): a slow disk is not the caller's
    /// idleness. Each `beginWork` is followed by one `endWork`.
    public func beginWork() { state.withLock { $0.working += 1 } }

    public func endWork() {
        state.withLock {
            $0.working -= 1; $0.last = .now
        }
    }
}

public enum IdleWatchdog {
    /// Runs `body`, ending it with RESOURCE_EXHAUSTED when it makes no progress (`activity.touch()`) for
    /// `limit`: a holder of a limited place that stops reading or writing loses it.
    /// `slot`, when given, is released the moment the limit is reached (before `body` has unwound).
    /// `maximumDuration`, when given, ends it the same way once it has run that long, progress or not;
    /// `whenLimitReached` runs at that moment too (giving back what the stream holds besides a slot).
    public static func run<T: Sendable>(
        limit: Duration, what: String, releasing slot: SlotLimiter.Slot? = nil, maximumDuration: Duration? = nil,
        whenLimitReached: (@Sendable () -> Void)? = nil,
        _ body: @escaping @Sendable (StreamActivity) async throws -> T
    ) async throws -> T {
        let activity = StreamActivity()
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body(activity) }
            group.addTask {
                while true {
                    let idle = activity.idle
                    if idle >= limit {
                        slot?.release()
                        whenLimitReached?()
                        throw RPCError(code: .resourceExhausted, message: "\(what) made no progress for \(limit): its place is given to others")
                    }
                    var wait = min(limit - idle, .seconds(1))
                    if let maximumDuration {
                        let age = ContinuousClock.now - started
                        if age >= maximumDuration {
                            slot?.release()
                            whenLimitReached?()
                            throw RPCError(code: .resourceExhausted, message: "\(what) ran longer than \(maximumDuration), the most allowed")
                        }
                        wait = min(wait, maximumDuration - age)
                    }
                    try await Task.sleep(for: wait + .milliseconds(5))
                }
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
            }
            throw CancellationError()
        }
    }
}

/// The `wharf_limiter_slots_in_use{limiter=…}` and `wharf_limiter_slots_limit{limiter=…}` gauges of a limiter
/// that keeps its own count (relay connections, negentropy sessions), so every limiter's count and limit can be
/// read from the metrics endpoint (saturation is their ratio).
public final class LimiterGauge: Sendable {
    private let gauge: Gauge

    public init(name: String, limit: Int, metrics: any MetricsFactory) {
        gauge = Gauge(label: "wharf_limiter_slots_in_use", dimensions: [("limiter", name)], factory: metrics)
        gauge.record(0)
        Self.recordLimit(limit, of: name, metrics: metrics)
    }

    static func recordLimit(_ limit: Int, of name: String, metrics: any MetricsFactory) {
        Gauge(label: "wharf_limiter_slots_limit", dimensions: [("limiter", name)], factory: metrics).record(limit)
    }

    public func record(_ count: Int) { gauge.record(count) }
}
