import Logging
import PostgresNIO

/// One numbered schema change. Each service owns a schema (`store`, `blob`, ...) and lists its
/// migrations in order; a migration is never edited once it has landed, only followed by a new one.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: [String]

    /// - Parameter sql: statements run in order inside one transaction.
    public init(version: Int, name: String, sql: [String]) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// The migrations of one schema.
public struct MigrationSet: Sendable {
    public var schema: String
    public var migrations: [Migration]

    public init(schema: String, migrations: [Migration]) {
        self.schema = schema
        self.migrations = migrations
    }
}

/// Applies migrations exactly once however many replicas start together: each schema's pending
/// migrations run in one transaction holding a transaction-scoped advisory lock (one key for all schemas,
/// since they share the bookkeeping table), and `wharf_migrations.applied` records what ran. A second process waits on the lock, then finds
/// nothing left to do.
public enum MigrationRunner {
    public struct Result: Sendable, Equatable {
        public var schema: String
        public var applied: [Int]
    }

    @discardableResult
    public static func apply(
        _ sets: [MigrationSet], on client: PostgresClient, logger: Logger
    ) async throws -> [Result] {
        var results: [Result] = []
        for set in sets {
            let versions = set.migrations.map(\.version)
            precondition(
                versions == versions.sorted() && Set(versions).count == versions.count,
                "migrations of \(set.schema) must have increasing, distinct versions")
            let applied = try await client.withTransaction(logger: logger) { connection -> [Int] in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('wharf.migrations'))", logger: logger)
                try await connection.query(
                    """
                    CREATE SCHEMA IF NOT EXISTS wharf_migrations;
                    """, logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS wharf_migrations.applied (
                        schema_name text NOT NULL,
                        version integer NOT NULL,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (schema_name, version)
                    )
                    """, logger: logger)
                var done = Set<Int>()
                let rows = try await connection.query(
                    "SELECT version FROM wharf_migrations.applied WHERE schema_name = \(set.schema)", logger: logger)
                for try await version in rows.decode(Int.self) { done.insert(version) }
                var appliedNow: [Int] = []
                for migration in set.migrations where !done.contains(migration.version) {
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        """
                        INSERT INTO wharf_migrations.applied (schema_name, version, name)
                        VALUES (\(set.schema), \(migration.version), \(migration.name))
                        """, logger: logger)
                    appliedNow.append(migration.version)
                }
                return appliedNow
            }
            if !applied.isEmpty {
                logger.info("applied migrations", metadata: ["schema": "\(set.schema)", "versions": "\(applied)"])
            }
            results.append(Result(schema: set.schema, applied: applied))
        }
        return results
    }
}
