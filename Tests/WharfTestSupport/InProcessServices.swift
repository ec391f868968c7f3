import Foundation
import Synchronization
import WharfRuntime

/// One Wharf service to run in the test process: a program (as its executable runs it) and the environment it
/// adds to the common one. The environment may name services started before it (`running.address("store")`).
public struct InProcessService: Sendable {
    /// How `InProcessServices` names it: the program's name unless given (replicas need their own).
    public let name: String
    fileprivate let makeHost: @Sendable ([String: String], @escaping @Sendable (any BuiltWharfService) -> Void) throws -> WharfServiceHost
    fileprivate let environment: @Sendable (InProcessServices) -> [String: String]

    public init<Program: WharfServiceProgram>(
        _ program: Program.Type, name: String? = nil,
        environment: @escaping @Sendable (InProcessServices) -> [String: String] = { _ in [:] }
    ) {
        self.name = name ?? Program.name
        self.environment = environment
        makeHost = { environment, built in
            let configuration = try Program.configuration(environment: environment)
            return Program.host(configuration: configuration.runtime, settings: configuration.settings, built: built)
        }
    }

    public init<Program: WharfServiceProgram>(_ program: Program.Type, name: String? = nil, environment: [String: String]) {
        self.init(program, name: name) { _ in environment }
    }

    /// A host with the shared runtime and `parts` of no real service (tests of the runtime itself).
    public init(
        name: String, migrations: [MigrationSet] = [], environment: [String: String] = [:],
        parts: @escaping @Sendable (WharfServiceHost) async throws -> WharfServiceParts
    ) {
        self.name = name
        self.environment = { _ in environment }
        makeHost = { environment, built in
            let (runtime, _, _) = try WharfServiceMain.loadConfiguration(
                service: name, defaults: .init(grpcPort: 0, metricsPort: 0), environment: environment, settings: { _ in () })
            return WharfServiceHost(configuration: runtime, migrations: migrations) { host in
                let made = try await parts(host)
                built(made)
                return made
            }
        }
    }
}

/// Services running in this test process on one database of the shared test PostgreSQL and the shared test
/// Redis (with channels of their own), as `withServices` started them.
public final class InProcessServices: Sendable {
    public let database: String
    /// A folder removed with the services (blob directories, key files).
    public let folder: String
    private let started = Mutex<[String: Started]>([:])

    fileprivate struct Started: Sendable {
        let host: WharfServiceHost
        let port: Int
        let built: OnceValue<any BuiltWharfService>
        let finished: OnceValue<Void>
    }

    fileprivate init(database: String, folder: String) {
        self.database = database
        self.folder = folder
    }

    fileprivate func record(_ name: String, _ service: Started) { started.withLock { $0[name] = service } }

    fileprivate func lookUp(_ name: String) -> Started {
        guard let found = started.withLock({ $0[name] }) else { preconditionFailure("no service \(name) was started") }
        return found
    }

    public func host(_ name: String) -> WharfServiceHost { lookUp(name).host }
    public func port(_ name: String) -> Int { lookUp(name).port }
    /// `127.0.0.1:port`, as services are told where another one is.
    public func address(_ name: String) -> String { "127.0.0.1:\(port(name))" }

    /// What the program's `build` made for the service called `name` (the program's name by default).
    public func built<Program: WharfServiceProgram>(_ program: Program.Type, name: String? = nil) async -> Program.Built {
        let made = await lookUp(name ?? Program.name).built.value
        guard let typed = made as? Program.Built else { preconditionFailure("\(name ?? Program.name) is no \(Program.self)") }
        return typed
    }
}

public enum InProcessServiceError: Error, CustomStringConvertible {
    case stoppedBeforeListening(String)

    public var description: String {
        switch self {
        case .stoppedBeforeListening(let name): return "\(name) stopped before it listened"
        }
    }
}

/// The one way tests run services in process: starts `services` in order (each listening before the next is
/// configured, so a later one can be pointed at an earlier one), on `database` (a new one when nil), runs `body`,
/// then stops them gracefully in reverse order and waits until each has stopped — also when `body` throws.
/// `environment` is added to every service's; `postgres` replaces the shared test server (one a test stops).
/// A service that fails to start fails the call with its error.
public func withServices<T: Sendable>(
    _ services: [InProcessService], database: String? = nil, postgres: TestPostgres? = nil, environment: [String: String] = [:],
    _ body: (InProcessServices) async throws -> T
) async throws -> T {
    let postgres = if let postgres { postgres } else { try await TestPostgres.shared() }
    let redis = try await TestRedis.shared()
    let database = if let database { database } else { try await postgres.createDatabase() }
    let folder = try TemporaryDirectories.make(prefix: "services")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let running = InProcessServices(database: database, folder: folder)
    let common = [
        "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_POSTGRES_URL": postgres.url(database: database), "WHARF_REDIS_URL": redis.url,
        "WHARF_REDIS_CHANNEL_PREFIX": TestRedis.channelPrefix(database), "WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText,
        "WHARF_STORE_OCI_LISTEN": "off", "WHARF_RELAY_LISTEN": "127.0.0.1:0",
    ].merging(environment) { $1 }

    return try await withThrowingTaskGroup(of: Void.self) { group in
        var order: [String] = []
        func stopAll() async {
            for name in order.reversed() {
                let service = running.lookUp(name)
                await service.host.shutdownGracefully()
                await service.finished.value
            }
        }
        let result: Result<T, any Error>
        do {
            for service in services {
                let built = OnceValue<any BuiltWharfService>()
                let host = try service.makeHost(common.merging(service.environment(running)) { $1 }) { built.set($0) }
                let finished = OnceValue<Void>()
                let listening = OnceValue<Result<Int, any Error>>()
                group.addTask {
                    defer { finished.set(()) }
                    do {
                        try await host.run()
                        listening.set(.failure(InProcessServiceError.stoppedBeforeListening(service.name)))
                    } catch {
                        listening.set(.failure(error))
                        throw error
                    }
                }
                // Unstructured: when the host fails before listening, this waits forever and is dropped.
                Task {
                    do { listening.set(.success(try await host.grpcPort())) } catch { listening.set(.failure(error)) }
                }
                let port = try await listening.value.get()
                running.record(service.name, .init(host: host, port: port, built: built, finished: finished))
                order.append(service.name)
            }
            result = .success(try await body(running))
        } catch {
            result = .failure(error)
        }
        await stopAll()
        // A host that failed on its own shows its error here unless `body` failed first.
        while let next = await group.nextResult() {
            if case .failure(let error) = next, case .success = result { throw error }
        }
        return try result.get()
    }
}
