import Foundation
import Logging
import NIOCore

/// An event one service tells the others about, e.g. `record.pushed`. Encoded as JSON on the Redis
/// channel `<prefix>.<topic>` (`wharf.record.pushed` unless `WHARF_REDIS_CHANNEL_PREFIX` says otherwise).
public protocol WharfEvent: Codable, Sendable {
    static var topic: String { get }
}

/// Typed events over Redis pub/sub. Delivery is at most once and only to subscribers connected at the
/// time: events are hints that something changed. Consumers must be able to reconcile from PostgreSQL
/// (at start-up and after a reconnect) without them, and must tolerate duplicates and reordering.
public struct EventBus: Sendable {
    public static func channel(for topic: String, prefix: String = RedisConfiguration.defaultChannelPrefix) -> String {
        "\(prefix).\(topic)"
    }

    private let publisher: RedisClient
    private let subscriber: RedisSubscriber
    private let logger: Logger
    private let channelPrefix: String

    public init(
        publisher: RedisClient, subscriber: RedisSubscriber, channelPrefix: String = RedisConfiguration.defaultChannelPrefix,
        logger: Logger = Logger(label: "wharf.events")
    ) {
        self.channelPrefix = channelPrefix
        self.publisher = publisher
        self.subscriber = subscriber
        self.logger = logger
    }

    /// Publishes `event`; returns how many subscribers received it. Throws when Redis is unreachable:
    /// callers that must not fail because of a lost hint use `publishIgnoringFailure`.
    @discardableResult
    public func publish<Event: WharfEvent>(_ event: Event) async throws -> Int {
        let payload = try JSONEncoder().encode(event)
        return try await publisher.publish(ByteBuffer(bytes: payload), to: Self.channel(for: Event.topic, prefix: channelPrefix))
    }

    /// Publishes and logs (rather than throws) a failure; for use after a committed write, where the
    /// write stands whether or not the hint goes out.
    public func publishIgnoringFailure<Event: WharfEvent>(_ event: Event) async {
        do {
            try await publish(event)
        } catch {
            logger.warning("event not published", metadata: ["topic": "\(Event.topic)", "error": "\(error)"])
        }
    }

    /// Publishes each of `events` (pipelined on the one connection rather than one round trip after
    /// another), logging failures; after a committed write of many things.
    public func publishIgnoringFailure<Event: WharfEvent>(_ events: [Event]) async {
        await withDiscardingTaskGroup { group in
            for event in events { group.addTask { await publishIgnoringFailure(event) } }
        }
    }

    /// Yields each time the subscription is back after Redis was unreachable (and every channel is subscribed
    /// again): consumers reconcile then what they missed meanwhile.
    public func resumptions() -> AsyncStream<Void> {
        subscriber.resumptions()
    }

    /// Events of `type` published from now on. Messages that do not decode as `Event` are logged and skipped.
    public func events<Event: WharfEvent>(of type: Event.Type) -> AsyncStream<Event> {
        let messages = subscriber.messages(on: Self.channel(for: Event.topic, prefix: channelPrefix))
        let logger = self.logger
        return AsyncStream(Event.self, bufferingPolicy: .bufferingNewest(10_000)) { continuation in
            let task = Task {
                for await message in messages {
                    do {
                        continuation.yield(try JSONDecoder().decode(Event.self, from: Data(buffer: message.payload)))
                    } catch {
                        logger.warning("undecodable event skipped", metadata: ["topic": "\(Event.topic)", "error": "\(error)"])
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
