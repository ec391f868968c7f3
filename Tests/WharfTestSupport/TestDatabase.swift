import Logging
import PostgresNIO
import WharfRuntime

/// Runs `body` with a pool connected to a new, empty database on the shared test server, after applying
/// `migrations`. The pool is shut down when `body` returns.
public func withTestDatabase<Result: Sendable>(
    migrations: [MigrationSet] = [],
    _ body: @Sendable (PostgresClient, PostgresConfiguration) async throws -> Result
) async throws -> Result {
    let server = try await TestPostgres.shared()
    let database = try await server.createDatabase()
    let configuration = server.configuration(database: database)
    let client = PostgresClient(configuration: configuration.clientConfiguration)
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        if !migrations.isEmpty {
            try await MigrationRunner.apply(migrations, on: client, logger: Logger(label: "wharf.test"))
        }
        let result = try await body(client, configuration)
        group.cancelAll()
        return result
    }
}
