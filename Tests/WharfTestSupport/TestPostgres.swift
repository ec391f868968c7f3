import Foundation
import Logging
import PostgresNIO
import Synchronization
import WharfRuntime

/// A throw-away PostgreSQL server: `initdb` into a temporary folder, `postgres` on 127.0.0.1 and a free
/// port, `fsync=off` (tests only). Debian keeps the binaries in `pg_config --bindir` and they refuse to run
/// as root, so as root they run as the `postgres` user. Stopped and removed when the test process exits.
public final class TestPostgres: Sendable {
    public let port: Int
    public let directory: String
    private let binDirectory: String
    private let asPostgresUser: Bool
    private let process = Mutex<SpawnedProcess?>(nil)
    private static let sharedServer = OncePerProcess<TestPostgres>()

    /// One server for the whole test process; every test makes its own database on it.
    public static func shared() async throws -> TestPostgres {
        try await sharedServer.value { try await TestPostgres.start() }
    }

    /// A dedicated server, for tests that stop and restart it.
    public static func start() async throws -> TestPostgres {
        // The port is picked free, then bound by PostgreSQL a moment later: another server of the same test
        // run can take it in between. A new port (and data folder) is tried then.
        var attempt = 0
        while true {
            attempt += 1
            let server = try await TestPostgres()
            do {
                try await server.startServer()
                return server
            } catch  where attempt < 3 {
                await server.stopServer()
            }
        }
    }

    private init() async throws {
        guard let pgConfig = findExecutable("pg_config") else {
            throw TestSupportError("pg_config not found: install postgresql (scripts/wharf test does)")
        }
        binDirectory = try await runCommand(pgConfig, ["--bindir"]).trimmingCharacters(in: .whitespacesAndNewlines)
        asPostgresUser = getuid() == 0
        directory = try TemporaryDirectories.make(prefix: "postgres")
        port = try freePort()
        if asPostgresUser { try await runCommand("/bin/chown", ["-R", "postgres:postgres", directory]) }
        try await runAsOwner(
            "\(binDirectory)/initdb",
            [
                "-D", "\(directory)/data", "-U", "wharf", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
            ])
    }

    private func runAsOwner(_ executable: String, _ arguments: [String]) async throws {
        if asPostgresUser {
            try await runCommand(
                "/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable] + arguments)
        } else {
            try await runCommand(executable, arguments)
        }
    }

    /// Starts (or restarts) the server on the same port and data.
    public func startServer() async throws {
        let arguments = [
            "-D", "\(directory)/data", "-p", String(port), "-k", directory,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "shared_buffers=128MB",
        ]
        // setpriv execs postgres directly as the postgres user, so the pid we hold is the postmaster's.
        let server =
            asPostgresUser
            ? try SpawnedProcess.spawn(
                "/usr/bin/setpriv",
                ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", "\(binDirectory)/postgres"] + arguments,
                outputPath: "\(directory)/server.log")
            : try SpawnedProcess.spawn("\(binDirectory)/postgres", arguments, outputPath: "\(directory)/server.log")
        process.withLock { $0 = server }
        TemporaryDirectories.recordServer(pid: server.pid, in: directory)
        let ready = await eventually(timeout: .seconds(30)) {
            guard server.isRunning else { return true }
            return (try? await self.query(database: "postgres", "SELECT 1")) != nil
        }
        guard ready, server.isRunning else {
            let text = (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? ""
            throw TestSupportError("PostgreSQL did not start on port \(port): \(text.suffix(2000))")
        }
    }

    /// Fast shutdown (SIGINT): active connections are cut, as when the database goes away.
    public func stopServer() async {
        guard let server = process.withLock({ $0 }) else { return }
        await server.stop(grace: .seconds(20))
        process.withLock { $0 = nil }
    }

    public func url(database: String) -> String {
        "postgres://wharf@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// A new empty database, so that tests running in parallel never see each other's rows.
    public func createDatabase(prefix: String = "test") async throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        try await query(database: "postgres", "CREATE DATABASE \(name)")
        return name
    }

    public func configuration(database: String) -> PostgresConfiguration {
        PostgresConfiguration(host: "127.0.0.1", port: port, username: "wharf", database: database)
    }

    /// Runs one statement on a short-lived connection.
    public func query(database: String, _ sql: String) async throws {
        let configuration = PostgresConnection.Configuration(
            host: "127.0.0.1", port: port, username: "wharf", password: nil, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 1, logger: Logger(label: "wharf.test.postgres"))
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "wharf.test.postgres"))
    }

    /// The number of rows in `table` (a short-lived connection).
    public func count(_ table: String, database: String) async throws -> Int {
        let configuration = PostgresConnection.Configuration(
            host: "127.0.0.1", port: port, username: "wharf", password: nil, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 1, logger: Logger(label: "wharf.test.postgres"))
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: Logger(label: "wharf.test.postgres"))
        return try await rows.decode(Int.self).reduce(0) { $0 + $1 }
    }
}
