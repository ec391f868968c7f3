import Logging
import NIOCore
import NIOPosix
import Synchronization

extension RedisCommand: @unchecked Sendable {}

/// Opens a Redis connection with the hiredis codec, authenticates and selects the database.
enum RedisConnector {
    static func connect(
        to configuration: RedisConfiguration,
        group: any EventLoopGroup,
        onPush: (@Sendable (RedisValue) -> Void)? = nil
    ) async throws -> any Channel {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(min(configuration.connectTimeout.milliseconds, 86_400_000)))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onPush: onPush))
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw RedisError.notConnected("\(configuration.host):\(configuration.port): \(error)")
        }
        do {
            if let password = configuration.password {
                var arguments = ["AUTH"]
                if let user = configuration.username { arguments.append(user) }
                arguments.append(password)
                _ = try await send(arguments.map(ByteBuffer.init(string:)), on: channel, timeout: configuration.commandTimeout)
            }
            if configuration.database != 0 {
                _ = try await send(
                    ["SELECT", String(configuration.database)].map(ByteBuffer.init(string:)), on: channel,
                    timeout: configuration.commandTimeout)
            }
        } catch {
            try? await channel.close()
            throw error
        }
        return channel
    }

    /// Writes one command and waits for its reply, at most `timeout` (then the connection is closed: the
    /// replies after an overdue one could not be matched); many of these may be in flight on one channel.
    static func send(_ arguments: [ByteBuffer], on channel: any Channel, timeout: Duration) async throws -> RedisValue {
        let promise = channel.eventLoop.makePromise(of: RedisValue.self)
        channel.writeAndFlush(RedisCommand(arguments: arguments, promise: promise)).cascadeFailure(to: promise)
        let overdue = OverdueFlag()
        let timer = channel.eventLoop.scheduleTask(in: .milliseconds(min(timeout.milliseconds, 86_400_000))) {
            overdue.value.store(true, ordering: .releasing)
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        do {
            return try await promise.futureResult.get()
        } catch  where overdue.value.load(ordering: .acquiring) {
            throw RedisError.timedOut(timeout)
        }
    }

    /// Writes a command whose reply arrives as a push (SUBSCRIBE and friends on a subscriber connection).
    static func sendWithoutReply(_ arguments: [ByteBuffer], on channel: any Channel) {
        channel.writeAndFlush(RedisCommand(arguments: arguments, promise: nil), promise: nil)
    }
}

/// Set by a command's timer when its reply is overdue.
private final class OverdueFlag: Sendable {
    let value = Atomic<Bool>(false)
}
