import Foundation
import Synchronization
import WharfRuntime

/// A throw-away redis-server on 127.0.0.1 and a free port, without persistence. It can be stopped and
/// started again on the same port (to test reconnects). Stopped when the test process exits.
public final class TestRedis: Sendable {
    public let port: Int
    private let executable: String
    private let directory: String
    private let process = Mutex<SpawnedProcess?>(nil)
    private static let sharedServer = OncePerProcess<TestRedis>()

    public static func shared() async throws -> TestRedis {
        try await sharedServer.value { try await TestRedis.start() }
    }

    /// A dedicated server, for tests that restart it.
    public static func start() async throws -> TestRedis {
        // As for PostgreSQL: the free port may be taken before redis-server binds it; then try another.
        var attempt = 0
        while true {
            attempt += 1
            let server = try TestRedis()
            do {
                try await server.startServer()
                return server
            } catch  where attempt < 3 {
                await server.stopServer()
            }
        }
    }

    private init() throws {
        guard let executable = findExecutable("redis-server", extraFolders: ["/usr/bin", "/usr/sbin"]) else {
            throw TestSupportError("redis-server not found: install redis-server (scripts/wharf test does)")
        }
        self.executable = executable
        directory = try TemporaryDirectories.make(prefix: "redis")
        port = try freePort()
    }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// Tests share one Redis; a system's events stay within it when its channels are named after its own
    /// database (a concurrent test deleting the same vector record must not unpublish this one's copy).
    public static func channelPrefix(_ database: String) -> String { "wharf-\(database)" }

    public var configuration: RedisConfiguration { RedisConfiguration(host: "127.0.0.1", port: port) }

    public func startServer() async throws {
        let server = try SpawnedProcess.spawn(
            executable,
            [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory, "--daemonize", "no", "--loglevel", "warning",
            ], outputPath: "\(directory)/redis.log")
        process.withLock { $0 = server }
        TemporaryDirectories.recordServer(pid: server.pid, in: directory)
        let ready = await eventually(timeout: .seconds(15)) { !server.isRunning || isListening(port: self.port) }
        guard ready, server.isRunning else { throw TestSupportError("redis-server did not start on port \(port)") }
    }

    /// SIGSTOP: the server keeps its connections and accepts new ones, but answers nothing (as a Redis that
    /// hangs or swaps would); `resume()` undoes it.
    public func suspend() {
        process.withLock { $0 }?.send(SIGSTOP)
    }

    public func resume() {
        process.withLock { $0 }?.send(SIGCONT)
    }

    public func stopServer() async {
        guard let server = process.withLock({ $0 }) else { return }
        await server.stop()
        process.withLock { $0 = nil }
    }
}
