import Foundation
import Logging
import PostgresNIO
import WharfRuntime

/// Sync peers and their state in PostgreSQL (`negentropy.peers`), so that AddPeer and RemovePeer survive
/// restarts and every replica reports the same state; and the cluster-wide background loop flag.
public struct PeerRepository: Sendable {
    public struct PeerState: Sendable, Equatable {
        public var url: String
        /// Unix seconds of the last attempt; 0 = never.
        public var lastSync: Int64
        public var eventsSynced: Int64
        /// "idle", "syncing" or "error".
        public var status: String
        public var lastError: String
        public var consecutiveFailures: Int32
    }

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Adds a peer unless present (an existing peer keeps its state); true when added.
    @discardableResult
    public func add(_ url: String) async throws -> Bool {
        let rows = try await client.query("INSERT INTO negentropy.peers (url) VALUES (\(url)) ON CONFLICT DO NOTHING RETURNING 1", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    @discardableResult
    public func remove(_ url: String) async throws -> Bool {
        guard PostgresText.canStore(url) else { return false }  // no stored URL has a NUL
        let rows = try await client.query("DELETE FROM negentropy.peers WHERE url = \(url) RETURNING 1", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public func all() async throws -> [PeerState] {
        try await states(
            client.query(
                "SELECT url, last_sync, events_synced, status, last_error, consecutive_failures FROM negentropy.peers ORDER BY url",
                logger: logger))
    }

    public func state(of url: String) async throws -> PeerState? {
        guard PostgresText.canStore(url) else { return nil }
        return try await states(
            client.query(
                """
                SELECT url, last_sync, events_synced, status, last_error, consecutive_failures FROM negentropy.peers
                WHERE url = \(url)
                """, logger: logger)
        ).first
    }

    public func markSyncing(_ url: String) async throws {
        try await client.query("UPDATE negentropy.peers SET status = 'syncing' WHERE url = \(url)", logger: logger)
    }

    public func recordSuccess(_ url: String, eventsSynced: Int) async throws {
        try await client.query(
            """
            UPDATE negentropy.peers SET status = 'idle', last_error = '', consecutive_failures = 0,
                events_synced = events_synced + \(eventsSynced), last_sync = extract(epoch FROM now())::bigint
            WHERE url = \(url)
            """, logger: logger)
    }

    public func recordFailure(_ url: String, error: String) async throws {
        try await client.query(
            """
            UPDATE negentropy.peers SET status = 'error', last_error = \(error.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")),
                consecutive_failures = consecutive_failures + 1, last_sync = extract(epoch FROM now())::bigint
            WHERE url = \(url)
            """, logger: logger)
    }

    /// Whether the background loop runs, and the Unix seconds of its last full pass (0 = never).
    public func loop() async throws -> (active: Bool, lastSync: Int64) {
        let rows = try await client.query("SELECT active, last_sync FROM negentropy.sync_loop", logger: logger)
        for try await (active, lastSync) in rows.decode((Bool, Int64).self) { return (active, lastSync) }
        return (false, 0)
    }

    public func setLoopActive(_ active: Bool) async throws {
        try await client.query("UPDATE negentropy.sync_loop SET active = \(active)", logger: logger)
    }

    public func recordFullPass() async throws {
        try await client.query("UPDATE negentropy.sync_loop SET last_sync = extract(epoch FROM now())::bigint", logger: logger)
    }

    private func states(_ rows: PostgresRowSequence) async throws -> [PeerState] {
        var states: [PeerState] = []
        for try await (url, lastSync, synced, status, lastError, failures) in rows.decode((String, Int64, Int64, String, String, Int32).self) {
            states.append(
                PeerState(
                    url: url, lastSync: lastSync, eventsSynced: synced, status: status, lastError: lastError,
                    consecutiveFailures: failures))
        }
        return states
    }
}
