import Logging
import PostgresNIO
import Testing
import WharfRuntime
import WharfTestSupport

@Suite("Migrations")
struct MigrationTests {
    static let widgets = MigrationSet(
        schema: "widgets",
        migrations: [
            Migration(
                version: 1, name: "create",
                sql: [
                    "CREATE SCHEMA widgets",
                    "CREATE TABLE widgets.widgets (id bigserial PRIMARY KEY, name text NOT NULL)",
                ]),
            Migration(version: 2, name: "seed", sql: ["INSERT INTO widgets.widgets (name) VALUES ('first')"]),
        ])

    @Test("migrations run concurrently from two pools apply exactly once; a rerun applies nothing")
    func concurrentPools() async throws {
        try await withTestDatabase { first, configuration in
            let second = PostgresClient(configuration: configuration.clientConfiguration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await second.run() }
                let logger = Logger(label: "test")
                async let a = MigrationRunner.apply([JobMigrations.set, Self.widgets], on: first, logger: logger)
                async let b = MigrationRunner.apply([JobMigrations.set, Self.widgets], on: second, logger: logger)
                let (resultA, resultB) = try await (a, b)
                let widgetVersions = [resultA, resultB].map { $0.first { $0.schema == "widgets" }?.applied ?? [] }
                #expect(widgetVersions.sorted { $0.count < $1.count } == [[], [1, 2]])
                let again = try await MigrationRunner.apply([JobMigrations.set, Self.widgets], on: first, logger: logger)
                #expect(again.allSatisfy { $0.applied.isEmpty })
                let rows = try await first.query("SELECT count(*)::bigint FROM widgets.widgets")
                #expect(try await rows.decode(Int64.self).reduce(0, +) == 1)  // the seed ran once
                let bookkeeping = try await first.query(
                    "SELECT count(*)::bigint FROM wharf_migrations.applied WHERE schema_name = 'widgets'")
                #expect(try await bookkeeping.decode(Int64.self).reduce(0, +) == 2)
                group.cancelAll()
            }
        }
    }

    @Test("two wharfctl processes migrating the same fresh database at once apply the jobs schema once")
    func concurrentProcesses() async throws {
        let wharfctl = try builtExecutable("wharfctl")
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        let environment = ["WHARF_POSTGRES_URL": postgres.url(database: database)]
        async let first = runExecutable(wharfctl, ["migrate"], environment: environment)
        async let second = runExecutable(wharfctl, ["migrate"], environment: environment)
        let results = try await [first, second]
        #expect(results.map(\.status) == [0, 0], "\(results.map(\.output))")
        let outputs = results.map(\.output).sorted()
        #expect(outputs.filter { $0.contains("jobs: applied [1]") }.count == 1, "\(outputs)")
        #expect(outputs.filter { $0.contains("jobs: applied nothing (up to date)") }.count == 1, "\(outputs)")
    }

    @Test("a failing migration rolls back entirely and is not recorded")
    func failingMigrationRollsBack() async throws {
        try await withTestDatabase { client, _ in
            let broken = MigrationSet(
                schema: "broken",
                migrations: [
                    Migration(version: 1, name: "half", sql: ["CREATE SCHEMA broken", "CREATE TABLE broken.t (id int"])
                ])
            await #expect(throws: (any Error).self) {
                try await MigrationRunner.apply([broken], on: client, logger: Logger(label: "test"))
            }
            let schemas = try await client.query("SELECT count(*)::bigint FROM pg_namespace WHERE nspname = 'broken'")
            #expect(try await schemas.decode(Int64.self).reduce(0, +) == 0)
        }
    }
}
