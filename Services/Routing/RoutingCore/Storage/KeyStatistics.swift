import Foundation
import Logging
import PostgresNIO
import Synchronization

/// How common each match key is, from PostgreSQL's own statistics on `routing.records.match_keys`
/// (`pg_stats.most_common_elems`, kept by ANALYZE / autovacuum), reloaded at most once a minute. Keys
/// that are not among the most common are rarer than all of them; nothing is known of them beyond that.
final class KeyStatistics: Sendable {
    struct Snapshot: Sendable {
        var frequencies: [String: Double] = [:]
        var loadedAt: ContinuousClock.Instant?
    }

    static let reloadInterval = Duration.seconds(60)

    private let client: PostgresClient
    private let logger: Logger
    private let state = Mutex(Snapshot())

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Fraction of records holding `key`, when it is among the most common keys.
    func frequencies() async -> [String: Double] {
        let now = ContinuousClock.now
        let current = state.withLock { $0 }
        if let loadedAt = current.loadedAt, now - loadedAt < Self.reloadInterval { return current.frequencies }
        var loaded: [String: Double] = [:]
        do {
            let rows = try await client.query(
                """
                SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats
                WHERE schemaname = 'routing' AND tablename = 'records' AND attname = 'match_keys'
                """, logger: logger)
            for try await (keys, frequencies) in rows.decode(([String], [Float]).self) {
                for (key, frequency) in zip(keys, frequencies) { loaded[key] = Double(frequency) }
            }
        } catch {
            logger.debug("key statistics unavailable", metadata: ["error": "\(error)"])
        }
        state.withLock { $0 = Snapshot(frequencies: loaded, loadedAt: now) }
        return loaded
    }
}
