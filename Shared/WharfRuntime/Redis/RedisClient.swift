import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis client for commands: one connection shared by every caller, pipelined (replies are matched to
/// commands in order by `RedisChannelHandler`), re-established on the next command after it drops.
/// Nothing here blocks an event loop: hiredis only encodes and parses bytes the channel hands it.
public final class RedisClient: Sendable {
    private enum State {
        case idle
        case connecting(EventLoopFuture<any Channel>)
        case connected(any Channel)
        case shutDown
    }

    public let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let state = Mutex<State>(.idle)
    private let logger: Logger

    public init(
        configuration: RedisConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "wharf.redis")
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Sends one command, e.g. `["SET", "key", "value"]`. Error replies throw `RedisError.server`.
    @discardableResult
    public func send(_ arguments: [String]) async throws -> RedisValue {
        try await send(buffers: arguments.map(ByteBuffer.init(string:)))
    }

    @discardableResult
    public func send(buffers arguments: [ByteBuffer]) async throws -> RedisValue {
        let channel = try await currentChannel()
        return try await RedisConnector.send(arguments, on: channel, timeout: configuration.commandTimeout)
    }

    /// Publishes `message` on `channel`; returns how many subscribers received it.
    @discardableResult
    public func publish(_ message: ByteBuffer, to channel: String) async throws -> Int {
        let reply = try await send(buffers: [ByteBuffer(string: "PUBLISH"), ByteBuffer(string: channel), message])
        guard let count = reply.integer else { throw RedisError.unexpectedReply("PUBLISH answered \(reply)") }
        return Int(count)
    }

    /// True when Redis answers PING.
    public func ping() async -> Bool {
        (try? await send(["PING"]))?.string == "PONG"
    }

    /// Closes the connection; later commands fail.
    public func shutdown() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .shutDown }
            if case .connected(let channel) = state { return channel }
            return nil
        }
        try? await channel?.close()
    }

    private func currentChannel() async throws -> any Channel {
        enum Next {
            case use(any Channel)
            case wait(EventLoopFuture<any Channel>)
            case connect(EventLoopPromise<any Channel>)
            case fail
        }
        let next: Next = state.withLock { state in
            switch state {
            case .connected(let channel) where channel.isActive:
                return .use(channel)
            case .connecting(let future):
                return .wait(future)
            case .shutDown:
                return .fail
            case .idle, .connected:
                let promise = group.next().makePromise(of: (any Channel).self)
                state = .connecting(promise.futureResult)
                return .connect(promise)
            }
        }
        switch next {
        case .use(let channel):
            return channel
        case .wait(let future):
            return try await future.get()
        case .fail:
            throw RedisError.notConnected("client is shut down")
        case .connect(let promise):
            do {
                let channel = try await RedisConnector.connect(to: configuration, group: group)
                state.withLock { state in
                    if case .shutDown = state { return }
                    state = .connected(channel)
                }
                promise.succeed(channel)
                return channel
            } catch {
                state.withLock { state in
                    if case .connecting = state { state = .idle }
                }
                logger.debug("redis connect failed", metadata: ["error": "\(error)"])
                promise.fail(error)
                throw error
            }
        }
    }
}
