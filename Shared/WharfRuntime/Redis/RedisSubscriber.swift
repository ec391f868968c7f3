import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// One message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable {
    public var channel: String
    public var payload: ByteBuffer
}

/// A dedicated pub/sub connection. `run()` keeps it connected: after any drop (Redis restarted, network
/// gone) it reconnects with back-off and subscribes again to every channel that still has listeners, so
/// listeners keep their streams. Messages published while disconnected are lost: pub/sub is a hint.
public final class RedisSubscriber: Service, Sendable {
    private struct Listener {
        var channel: String
        var continuation: AsyncStream<RedisPubSubMessage>.Continuation
    }

    private struct State {
        var listeners: [Int: Listener] = [:]
        var nextListenerID = 0
        var connection: (any Channel)?
        /// Channels the current connection has confirmed (`subscribe` acknowledgements).
        var confirmed: Set<String> = []
        var connectionCount = 0
        var stopped = false
        /// Set on a reconnect until every channel is confirmed again; then resumption watchers are told.
        var resumptionPending = false
        var resumptionWatchers: [Int: AsyncStream<Void>.Continuation] = [:]

        var channels: Set<String> { Set(listeners.values.map(\.channel)) }
    }

    public let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())
    private let backoff: ClosedRange<Duration>

    public init(
        configuration: RedisConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "wharf.redis.subscriber"),
        reconnectBackoff: ClosedRange<Duration> = .milliseconds(100)...(.seconds(2))
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.backoff = reconnectBackoff
    }

    /// Messages published on `channel` from now on. The subscription ends when the stream's consumer
    /// stops iterating (or the subscriber stops).
    public func messages(on channel: String) -> AsyncStream<RedisPubSubMessage> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: RedisPubSubMessage.self, bufferingPolicy: .bufferingNewest(10_000))
        let (id, subscribeOn): (Int, (any Channel)?) = state.withLock { state in
            let isNewChannel = !state.channels.contains(channel)
            let id = state.nextListenerID
            state.nextListenerID += 1
            if state.stopped {
                continuation.finish()
                return (id, nil)
            }
            state.listeners[id] = Listener(channel: channel, continuation: continuation)
            return (id, isNewChannel ? state.connection : nil)
        }
        if let connection = subscribeOn {
            RedisConnector.sendWithoutReply(["SUBSCRIBE", channel].map(ByteBuffer.init(string:)), on: connection)
        }
        continuation.onTermination = { [weak self] _ in self?.removeListener(id) }
        return stream
    }

    /// Yields each time the connection, lost before, is back and has confirmed every channel again: from that
    /// moment nothing more is missed, so it is when a listener reconciles what it missed from PostgreSQL.
    public func resumptions() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            if state.stopped { return nil }
            let id = state.nextListenerID
            state.nextListenerID += 1
            state.resumptionWatchers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.resumptionWatchers.removeValue(forKey: id) }
        }
        return stream
    }

    /// True once the current connection has confirmed a subscription to `channel`.
    public func isSubscribed(to channel: String) -> Bool {
        state.withLock { $0.confirmed.contains(channel) }
    }

    /// How many connections `run()` has established so far (1 after the first connect, 2 after a reconnect...).
    public var connectionCount: Int { state.withLock { $0.connectionCount } }

    public func run() async throws {
        // Waiting on the connection's close future ignores task cancellation: stop on cancellation too, or
        // a cancelled service group would wait for this forever.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await connectLoop()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    private func connectLoop() async throws {
        var delay = backoff.lowerBound
        while !Task.isCancelled && !state.withLock({ $0.stopped }) {
            do {
                let channel = try await RedisConnector.connect(to: configuration, group: group) { [weak self] push in
                    self?.handle(push)
                }
                let channels: Set<String>? = state.withLock { state in
                    if state.stopped { return nil }
                    state.connection = channel
                    state.confirmed = []
                    state.connectionCount += 1
                    state.resumptionPending = state.connectionCount > 1
                    return state.channels
                }
                guard let channels else {
                    try? await channel.close()
                    break
                }
                if state.withLock({ $0.connectionCount }) > 1 {
                    logger.info("redis subscriber reconnected", metadata: ["channels": "\(channels.count)"])
                }
                if !channels.isEmpty {
                    RedisConnector.sendWithoutReply(
                        (["SUBSCRIBE"] + channels.sorted()).map(ByteBuffer.init(string:)), on: channel)
                } else {
                    tellResumedIfConfirmed()
                }
                delay = backoff.lowerBound
                try? await channel.closeFuture.get()
                state.withLock { state in
                    state.connection = nil
                    state.confirmed = []
                }
                if state.withLock({ $0.stopped }) { break }
                logger.warning("redis subscriber connection lost; reconnecting")
            } catch {
                logger.debug("redis subscriber connect failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, backoff.upperBound)
        }
        stop()
    }

    /// Closes the connection and ends every listener's stream.
    public func stop() {
        let (connection, listeners, watchers) = state.withLock { state -> ((any Channel)?, [Listener], [AsyncStream<Void>.Continuation]) in
            state.stopped = true
            let listeners = Array(state.listeners.values)
            let watchers = Array(state.resumptionWatchers.values)
            state.listeners = [:]
            state.resumptionWatchers = [:]
            defer { state.connection = nil }
            return (state.connection, listeners, watchers)
        }
        connection?.close(promise: nil)
        for listener in listeners { listener.continuation.finish() }
        for watcher in watchers { watcher.finish() }
    }

    private func removeListener(_ id: Int) {
        let unsubscribe: (String, any Channel)? = state.withLock { state in
            guard let removed = state.listeners.removeValue(forKey: id) else { return nil }
            guard !state.channels.contains(removed.channel), let connection = state.connection else { return nil }
            state.confirmed.remove(removed.channel)
            return (removed.channel, connection)
        }
        if let (channel, connection) = unsubscribe {
            RedisConnector.sendWithoutReply(["UNSUBSCRIBE", channel].map(ByteBuffer.init(string:)), on: connection)
        }
    }

    private func handle(_ push: RedisValue) {
        guard let elements = push.array, let kind = elements.first?.string else { return }
        switch kind {
        case "message" where elements.count == 3:
            guard let channel = elements[1].string, case .bulkString(let payload) = elements[2] else { return }
            let message = RedisPubSubMessage(channel: channel, payload: payload)
            let targets = state.withLock { state in
                state.listeners.values.filter { $0.channel == channel }.map(\.continuation)
            }
            for continuation in targets { continuation.yield(message) }
        case "subscribe" where elements.count >= 2:
            if let channel = elements[1].string {
                _ = state.withLock { $0.confirmed.insert(channel) }
                tellResumedIfConfirmed()
            }
        default:
            break
        }
    }

    private func tellResumedIfConfirmed() {
        let watchers: [AsyncStream<Void>.Continuation] = state.withLock { state in
            guard state.resumptionPending, state.confirmed.isSuperset(of: state.channels) else { return [] }
            state.resumptionPending = false
            return Array(state.resumptionWatchers.values)
        }
        for watcher in watchers { watcher.yield() }
    }
}
