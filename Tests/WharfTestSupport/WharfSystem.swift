import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import WharfProto
import WharfTopology

/// The whole system as `scripts/wharf up` runs it, as real processes: the built executables of store, routing,
/// blob, negentropy and sync on one new database of the shared test PostgreSQL and the shared test Redis, and the
/// gateway in front of them, each on its own free port. Tests that must see a process survive (same pid) or
/// measure its memory use this instead of servers in the test process.
public final class WharfSystem: Sendable {
    public struct Component: Sendable {
        public let name: String
        public let grpcPort: Int
        public let process: SpawnedProcess
        public let logPath: String
        /// Its Prometheus `/metrics` port, when the system was started with its metrics on.
        public let metricsPort: Int?
        let environment: [String: String]
        /// The user id it runs as, when not this process's (`setpriv`).
        let user: UInt32?
        public var pid: Int32 { process.pid }
    }

    private let running: Mutex<[Component]>
    /// The components as they run now (a respawned one replaces the one it follows).
    public var components: [Component] { running.withLock { $0 } }
    public let database: String
    /// The negentropy relay's WebSocket port.
    public let relayPort: Int
    /// The store's OCI registry port.
    public let registryPort: Int

    public func component(_ name: String) -> Component {
        guard let found = components.first(where: { $0.name == name }) else { preconditionFailure("no component \(name)") }
        return found
    }

    public func port(_ name: String) -> Int { component(name).grpcPort }

    private static let sharedSystem = OncePerProcess<WharfSystem>()

    /// One system for the whole test process (suites using it run `.serialized`), with `environment`.
    public static func shared(environment: [String: String] = [:], metrics: Set<String> = []) async throws -> WharfSystem {
        try await sharedSystem.value { try await start(environment: environment, metrics: metrics) }
    }

    /// Every component, in the order they start: routing reads the store, sync writes to store and routing, and
    /// the gateway probes every service.
    public static let everyComponent = SystemShape.components.map(\.name)

    /// Starts `only` these components (each waits until it reports SERVING), on `postgres` and `redis` (the
    /// shared test servers when nil; fault tests pass dedicated ones they restart). `environment` is added to
    /// every process; the gateway routes no service of `unrouted` (a remote that is no Wharf node); the
    /// components in `metrics` serve Prometheus metrics on a port of their own.
    public static func start(
        environment extra: [String: String] = [:], postgres: TestPostgres? = nil, redis: TestRedis? = nil,
        only: [String] = everyComponent, unrouted: Set<String> = [], metrics: Set<String> = [], user: UInt32? = nil
    ) async throws -> WharfSystem {
        let postgres = if let postgres { postgres } else { try await TestPostgres.shared() }
        let redis = if let redis { redis } else { try await TestRedis.shared() }
        let database = try await postgres.createDatabase(prefix: "system")
        let folder = try TemporaryDirectories.make(prefix: "system")
        let relayPort = try freePort()
        let registryPort = try freePort()
        var ports: [String: Int] = [:]
        for name in everyComponent { ports[name] = try freePort() }
        func port(_ name: String) -> Int { ports[name] ?? 0 }
        var common = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WHARF_") }
        common.merge([
            "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
            "WHARF_POSTGRES_URL": postgres.url(database: database), "WHARF_REDIS_URL": redis.url,
            "WHARF_REDIS_CHANNEL_PREFIX": TestRedis.channelPrefix(database),
            "WHARF_NODE_ID": "robustness", "WHARF_POSTGRES_POOL_SIZE": "10",
            "WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText,
        ]) { $1 }
        common.merge(extra) { $1 }
        let own: [String: [String: String]] = [
            "store": ["WHARF_STORE_OCI_LISTEN": "127.0.0.1:\(registryPort)"],
            "routing": ["WHARF_ROUTING_STORE": "127.0.0.1:\(port("store"))", "WHARF_ROUTING_ADVERTISE": "127.0.0.1:\(port("routing"))"],
            "blob": [:],
            "sync": [
                "WHARF_SYNC_STORE": "127.0.0.1:\(port("store"))", "WHARF_SYNC_ROUTING": "127.0.0.1:\(port("routing"))",
                "WHARF_SYNC_ALLOWED_REMOTES": TestCredentials.loopbackAndPublic,
                "WHARF_BACKREST_KEY_FILE": FileManager.default.temporaryDirectory
                    .appendingPathComponent("wharf-backrest-\(database)-key.pem").path,
            ],
            "negentropy": ["WHARF_RELAY_LISTEN": "127.0.0.1:\(relayPort)", "WHARF_NEGENTROPY_ALLOWED_PEERS": TestCredentials.loopbackAndPublic],
            "gateway": [
                "WHARF_GATEWAY_ROUTES": SystemShape.routed.filter { only.contains($0.name) }.flatMap { shape in
                    shape.serviceNames.filter { !unrouted.contains($0) }.map { "\($0)=127.0.0.1:\(port(shape.name))" }
                }.joined(separator: ","),
                "WHARF_GATEWAY_HEALTH_INTERVAL": "500ms", "WHARF_GATEWAY_ACCESS_LOG": "off",
            ],
        ]
        var started: [Component] = []
        for name in everyComponent where only.contains(name) {
            var environment = common
            environment["WHARF_LISTEN"] = "127.0.0.1:\(port(name))"
            environment.merge(own[name] ?? [:]) { $1 }
            var metricsPort: Int?
            if metrics.contains(name) {
                let chosen = try freePort()
                environment["WHARF_METRICS_LISTEN"] = "127.0.0.1:\(chosen)"
                metricsPort = chosen
            }
            do {
                started.append(
                    try await launch(
                        name, port: port(name), metricsPort: metricsPort, environment: environment,
                        logPath: "\(folder)/\(name).log", user: user))
            } catch {
                for other in started { await other.process.stop() }
                throw error
            }
        }
        return WharfSystem(components: started, database: database, relayPort: relayPort, registryPort: registryPort)
    }

    /// Spawns one component and waits until it reports SERVING.
    private static func launch(
        _ name: String, port: Int, metricsPort: Int? = nil, environment: [String: String],
        logPath: String, user: UInt32? = nil
    ) async throws -> Component {
        let executable = try builtExecutable(name)
        // As the image runs them (USER wharf) and Kubernetes (runAsNonRoot): setpriv execs the service as `user`.
        let process =
            if let user {
                try SpawnedProcess.spawn(
                    "/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--", executable],
                    environment: environment, outputPath: logPath)
            } else {
                try SpawnedProcess.spawn(executable, [], environment: environment, outputPath: logPath)
            }
        let component = Component(
            name: name, grpcPort: port, process: process, logPath: logPath, metricsPort: metricsPort,
            environment: environment, user: user)
        let serving = await eventually(timeout: .seconds(90), every: .milliseconds(200)) {
            guard process.isRunning else { return true }
            return (try? await healthStatus(port: port)) == .serving
        }
        guard serving, process.isRunning else {
            await process.stop()
            throw TestSupportError("\(name) did not become SERVING: \(Self.tail(of: logPath))")
        }
        return component
    }

    /// Starts `name` again, with the same port, database and environment, after its process ended (a fault
    /// test killed it); waits until it is SERVING.
    @discardableResult
    public func respawn(_ name: String) async throws -> Component {
        let previous = component(name)
        _ = await previous.process.waitForExit(timeout: .seconds(10))
        ChildProcesses.untrack(previous.process)
        let next = try await Self.launch(
            name, port: previous.grpcPort, metricsPort: previous.metricsPort, environment: previous.environment,
            logPath: previous.logPath, user: previous.user)
        running.withLock { components in
            components = components.map { $0.name == name ? next : $0 }
        }
        return next
    }

    private init(components: [Component], database: String, relayPort: Int, registryPort: Int) {
        running = Mutex(components)
        self.database = database
        self.relayPort = relayPort
        self.registryPort = registryPort
    }

    /// The components that are not running any more (with the end of their logs), or whose health is not
    /// SERVING; empty when every process is still the one started.
    public func problems() async -> [String] {
        var problems: [String] = []
        for component in components {
            guard component.process.isRunning else {
                let status = await component.process.waitForExit(timeout: .seconds(1)).map(String.init) ?? "?"
                problems.append("\(component.name) (pid \(component.pid)) exited with \(status): \(Self.tail(of: component.logPath))")
                continue
            }
            // Health can lag behind a burst of abuse (a probe waits for a pool connection): a few tries.
            let serving = await eventually(timeout: .seconds(15), every: .milliseconds(250)) {
                (try? await healthStatus(port: component.grpcPort)) == .serving
            }
            if !serving { problems.append("\(component.name) (pid \(component.pid)) is running but not SERVING") }
        }
        return problems
    }

    /// Resident memory of a component in bytes (VmRSS of /proc/<pid>/status).
    public func residentBytes(_ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(component(name).pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    public func stop() async {
        for component in components.reversed() { await component.process.stop() }
    }

    static func tail(of path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log)").suffix(3000))
    }
}

/// The `grpc.health.v1` status of the whole server at 127.0.0.1:`port`.
public func healthStatus(port: Int, timeout: Duration = .seconds(2)) async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
    try await withTestClient(port: port) { client in
        var options = CallOptions.defaults
        options.timeout = timeout
        return try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options).status
    }
}
