import Foundation
import WharfRuntime

/// Client reconciliation sessions registered in Redis, so that any replica can list or close them. A session
/// is a hash under `<prefix>:negentropy:session:<connection_id>:<subscription_id>` (ORLY's key after the prefix;
/// the prefix is `WHARF_REDIS_CHANNEL_PREFIX`, `wharf` by default, so that systems sharing one Redis database
/// never list or close each other's sessions) whose expiry is pushed back on every message: an idle session
/// disappears after the timeout by itself.
public struct SessionRegistry: Sendable {
    public struct Record: Sendable, Equatable {
        public var connectionID: String
        public var subscriptionID: String
        /// Unix seconds.
        public var createdAt: Int64
        public var lastActivity: Int64
        /// NEG-MSGs received after the NEG-OPEN.
        public var roundCount: Int32
        /// The NIP-01 filter of the NEG-OPEN, as JSON (a replica without the session's set rebuilds it).
        public var filterJSON: String
    }

    /// A session's name on this replica (its map of local sets), the same on every replica.
    public static func key(connectionID: String, subscriptionID: String) -> String {
        connectionID + ":" + subscriptionID
    }

    private let redis: RedisClient
    public let timeout: Duration
    /// What every session's Redis key starts with.
    private let keyPrefix: String

    public init(redis: RedisClient, timeout: Duration, prefix: String = RedisConfiguration.defaultChannelPrefix) {
        self.redis = redis
        self.timeout = timeout
        keyPrefix = prefix + ":negentropy:session:"
    }

    private func redisKey(connectionID: String, subscriptionID: String) -> String {
        keyPrefix + Self.key(connectionID: connectionID, subscriptionID: subscriptionID)
    }

    private var timeoutMilliseconds: String {
        String(max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
    }

    private static func now() -> String { String(Int64(Date().timeIntervalSince1970)) }

    /// Registers a session, replacing one with the same key.
    public func open(connectionID: String, subscriptionID: String, filterJSON: String) async throws {
        let key = redisKey(connectionID: connectionID, subscriptionID: subscriptionID)
        let now = Self.now()
        try check(
            try await redis.send([
                "EVAL",
                """
                redis.call('DEL', KEYS[1])
                redis.call('HSET', KEYS[1], 'connection_id', ARGV[1], 'subscription_id', ARGV[2], 'created_at', ARGV[3],
                           'last_activity', ARGV[3], 'round_count', 0, 'filter', ARGV[4])
                redis.call('PEXPIRE', KEYS[1], ARGV[5])
                return 1
                """,
                "1", key, connectionID, subscriptionID, now, filterJSON, timeoutMilliseconds,
            ]))
    }

    /// Counts one more round and pushes the expiry back; nil when the session is gone (closed or expired).
    public func touch(connectionID: String, subscriptionID: String) async throws -> Record? {
        let key = redisKey(connectionID: connectionID, subscriptionID: subscriptionID)
        let reply = try await redis.send([
            "EVAL",
            """
            if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
            redis.call('HSET', KEYS[1], 'last_activity', ARGV[1])
            redis.call('HINCRBY', KEYS[1], 'round_count', 1)
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return redis.call('HGETALL', KEYS[1])
            """,
            "1", key, Self.now(), timeoutMilliseconds,
        ])
        try check(reply)
        return Self.record(from: reply)
    }

    public func record(connectionID: String, subscriptionID: String) async throws -> Record? {
        let reply = try await redis.send(["HGETALL", redisKey(connectionID: connectionID, subscriptionID: subscriptionID)])
        try check(reply)
        return Self.record(from: reply)
    }

    @discardableResult
    public func close(connectionID: String, subscriptionID: String) async throws -> Bool {
        let reply = try await redis.send(["DEL", redisKey(connectionID: connectionID, subscriptionID: subscriptionID)])
        try check(reply)
        return (reply.integer ?? 0) > 0
    }

    /// Every registered session (any replica's).
    public func list() async throws -> [Record] {
        var records: [Record] = []
        var cursor = "0"
        repeat {
            let reply = try await redis.send(["SCAN", cursor, "MATCH", keyPrefix + "*", "COUNT", "1000"])
            try check(reply)
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
                throw RedisRegistryError("unexpected SCAN reply")
            }
            cursor = next
            for key in keys.compactMap(\.string) {
                let fields = try await redis.send(["HGETALL", key])
                if let record = Self.record(from: fields) { records.append(record) }
            }
        } while cursor != "0"
        return records
    }

    private func check(_ reply: RedisValue) throws {
        if case .error(let message) = reply { throw RedisRegistryError(message) }
    }

    private static func record(from reply: RedisValue) -> Record? {
        guard let values = reply.array, !values.isEmpty else { return nil }
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < values.count {
            if let name = values[index].string { fields[name] = values[index + 1].string ?? "" }
            index += 2
        }
        guard let connection = fields["connection_id"], let subscription = fields["subscription_id"] else { return nil }
        return Record(
            connectionID: connection, subscriptionID: subscription,
            createdAt: Int64(fields["created_at"] ?? "") ?? 0, lastActivity: Int64(fields["last_activity"] ?? "") ?? 0,
            roundCount: Int32(fields["round_count"] ?? "") ?? 0, filterJSON: fields["filter"] ?? "{}")
    }
}

public struct RedisRegistryError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = "Redis: " + description }
}
