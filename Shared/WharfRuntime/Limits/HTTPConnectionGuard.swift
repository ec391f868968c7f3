import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Guards a Hummingbird listener (the relay before its WebSocket upgrade, the metrics endpoint) from clients
/// that open connections and send nothing, or half a request: every connection is counted from the moment it
/// is accepted (per client address and in all), and one that has been sent nothing for `quietTimeout` —
/// since it opened or since its last response — is closed, unless it became a WebSocket (whose own keep-alive
/// takes over). A connection over the counts is admitted with a refusal its handler can explain (the relay
/// sends a NOTICE); far over them (twice the total) it is closed at once.
public final class HTTPConnectionGuard: Sendable {
    /// One accepted connection's standing.
    public final class Ticket: Sendable {
        let address: String
        /// Why the connection is over the limits (nil: admitted).
        public let refusal: String?
        /// The connection comes from a configured trusted proxy: its client's address is the forwarded one.
        public let fromTrustedProxy: Bool
        private let state = Mutex<(lastWrite: NIODeadline, upgraded: Bool)>((.now(), false))
        /// The forwarded client address counted for this connection (trusted proxies only).
        fileprivate let forwarded = Mutex<String?>(nil)

        init(address: String, refusal: String?, fromTrustedProxy: Bool) {
            self.address = address
            self.refusal = refusal
            self.fromTrustedProxy = fromTrustedProxy
        }

        func noteWrite() { state.withLock { $0.lastWrite = .now() } }
        /// The connection became a WebSocket: its own keep-alive watches it from now on.
        public func markUpgraded() { state.withLock { $0.upgraded = true } }
        func isQuiet(longerThan timeout: TimeAmount) -> Bool {
            state.withLock { !$0.upgraded && NIODeadline.now() - $0.lastWrite > timeout }
        }
    }

    private struct Counts {
        var admitted: [String: Int] = [:]
        var admittedTotal = 0
        var open = 0
        var tickets: [ObjectIdentifier: Ticket] = [:]
    }

    let perAddress: Int
    let total: Int
    let quietTimeout: Duration
    /// Addresses of proxies whose forwarded client address is believed (`X-Forwarded-For`), in
    /// `IPAddressBytes.description` form; their own address is not limited per address, the forwarded one is.
    let trustedProxies: Set<String>
    private let counts = Mutex(Counts())
    private let gauge: LimiterGauge?

    public init(perAddress: Int, total: Int, quietTimeout: Duration, trustedProxies: Set<String> = [], gauge: LimiterGauge? = nil) {
        self.perAddress = perAddress
        self.total = total
        self.quietTimeout = quietTimeout
        self.trustedProxies = trustedProxies
        self.gauge = gauge
    }

    /// Counts a trusted proxy's connection against the client address it forwards (the last entry of
    /// `X-Forwarded-For`, the one the proxy itself saw); the refusal when that client has its share open.
    public func admitForwarded(_ ticket: Ticket, forwardedFor header: String?) -> String? {
        guard ticket.fromTrustedProxy, ticket.refusal == nil else { return nil }
        let client = header?.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        guard let client else { return nil }
        return counts.withLock { counts -> String? in
            let key = "forwarded:" + client
            let open = counts.admitted[key, default: 0]
            if open >= perAddress { return "blocked: at most \(perAddress) connections per client address" }
            counts.admitted[key] = open + 1
            ticket.forwarded.withLock { $0 = key }
            return nil
        }
    }

    /// `inner` with every accepted connection counted and watched, what it reads acknowledged at
    /// once and its flushes coalesced (`PromptAcknowledgementHandler`, `FlushCoalescingHandler`).
    public func guarding<Inner: ServerChildChannel>(_ inner: Inner) -> GuardedChildChannel<Inner> {
        GuardedChildChannel(inner: inner, guard: self)
    }

    /// The ticket of an open connection (nil once closed).
    public func ticket(of channel: any Channel) -> Ticket? {
        counts.withLock { $0.tickets[ObjectIdentifier(channel)] }
    }

    /// Connections admitted and open now.
    public var admittedConnections: Int { counts.withLock { $0.admittedTotal } }

    /// Connections open now, admitted or not.
    public var openConnections: Int { counts.withLock { $0.open } }

    func accept(_ channel: any Channel) -> Ticket? {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        return counts.withLock { counts -> Ticket? in
            guard counts.open < total.multipliedReportingOverflow(by: 2).partialValue else { return nil }
            let fromAddress = counts.admitted[address, default: 0]
            let trusted = !trustedProxies.isEmpty && trustedProxies.contains(IPAddressBytes(literal: address)?.description ?? address)
            let refusal: String?
            if counts.admittedTotal >= total {
                refusal = "blocked: \(total) connections are open, try again later"
            } else if fromAddress >= perAddress, !trusted {
                refusal = "blocked: at most \(perAddress) connections per client address"
            } else {
                refusal = nil
                counts.admitted[address] = fromAddress + 1
                counts.admittedTotal += 1
                gauge?.record(counts.admittedTotal)
            }
            counts.open += 1
            let ticket = Ticket(address: address, refusal: refusal, fromTrustedProxy: trusted)
            counts.tickets[ObjectIdentifier(channel)] = ticket
            return ticket
        }
    }

    func release(_ channel: ObjectIdentifier) {
        counts.withLock { counts in
            guard let ticket = counts.tickets.removeValue(forKey: channel) else { return }
            counts.open -= 1
            if let key = ticket.forwarded.withLock({ $0 }), let held = counts.admitted[key] {
                counts.admitted[key] = held > 1 ? held - 1 : nil
            }
            guard ticket.refusal == nil, let held = counts.admitted[ticket.address] else { return }
            counts.admitted[ticket.address] = held > 1 ? held - 1 : nil
            counts.admittedTotal -= 1
            gauge?.record(counts.admittedTotal)
        }
    }
}

/// A Hummingbird child channel behind an `HTTPConnectionGuard`.
public struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Inner.Value
    let inner: Inner
    let `guard`: HTTPConnectionGuard

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let ticket = `guard`.accept(channel) else {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.inputClosed)
        }
        let key = ObjectIdentifier(channel)
        let connectionGuard = self.guard
        channel.closeFuture.whenComplete { _ in connectionGuard.release(key) }
        let timeout = TimeAmount.clamped(connectionGuard.quietTimeout)
        let check = channel.eventLoop.scheduleRepeatedTask(
            initialDelay: .nanoseconds(timeout.nanoseconds / 4), delay: .nanoseconds(max(timeout.nanoseconds / 4, 50_000_000))
        ) { task in
            if ticket.isQuiet(longerThan: timeout) {
                task.cancel()
                channel.close(promise: nil)
            }
        }
        channel.closeFuture.whenComplete { _ in check.cancel() }
        do {
            try channel.pipeline.syncOperations.addHandler(WriteNotingHandler(ticket: ticket), position: .first)
            try channel.pipeline.syncOperations.addHandler(PromptAcknowledgementHandler(), position: .first)
            try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    public func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Notes each write of a guarded connection (a response under way keeps it from being closed as quiet).
private final class WriteNotingHandler: ChannelOutboundHandler, RemovableChannelHandler, Sendable {
    typealias OutboundIn = NIOAny
    let ticket: HTTPConnectionGuard.Ticket

    init(ticket: HTTPConnectionGuard.Ticket) { self.ticket = ticket }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        ticket.noteWrite()
        context.write(data, promise: promise)
    }
}
