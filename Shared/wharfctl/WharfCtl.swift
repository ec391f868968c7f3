import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// Command line for a Wharf deployment: health probes (scripts, compose healthchecks), database migrations
/// of the shared schemas, configuration checks, and the services' calls through the gateway.
@main
struct WharfCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wharfctl",
        abstract: "Operate a Wharf deployment.",
        subcommands: [
            Record.self, Routing.self, Blob.self, Sync.self, Backrest.self, Negentropy.self, StatusCommand.self,
            Health.self, Migrate.self, Config.self, Topology.self, Completion.self,
        ])
}

/// Exit codes: 0 success, 1 failure, 2 not serving, 65 wrong data (EX_DATAERR), 78 invalid configuration (EX_CONFIG).
enum ExitCodes {
    static let failure: Int32 = 1
    static let notServing: Int32 = 2
    static let dataError: Int32 = 65
    static let invalidConfiguration: Int32 = 78
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a gRPC server for its grpc.health.v1 status; exit 0 only when SERVING.")

    @Option(help: "host:port of the gRPC server") var address: String
    @Option(help: "fully qualified service name; empty for the whole server") var service = ""
    @Option(help: "seconds to wait for an answer") var timeout: Double = 3

    func run() async throws {
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            print("wharfctl: --timeout: expected a number of seconds between 0 and 86400, got \(timeout)")
            throw ExitCode(ExitCodes.invalidConfiguration)
        }
        let target: HostPort
        do {
            target = try HostPort(parsing: address)
        } catch {
            print("wharfctl: --address: \(error)")
            throw ExitCode(ExitCodes.invalidConfiguration)
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: target.host, port: target.port), transportSecurity: .plaintext)
        let status: String
        do {
            status = try await withGRPCClient(transport: transport) { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                var options = CallOptions.defaults
                options.timeout = .milliseconds(Int64(timeout * 1000))
                let response = try await health.check(.with { $0.service = service }, options: options)
                return "\(response.status)"
            }
        } catch {
            print("\(target) down: \(error)")
            throw ExitCode(ExitCodes.failure)
        }
        print("\(target) \(status)")
        if status != "serving" { throw ExitCode(ExitCodes.notServing) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the shared migrations (the jobs schema) to WHARF_POSTGRES_URL and exit.")

    func run() async throws {
        let runtime = try loadConfiguration(service: "wharfctl")
        let logger = Logger(label: "wharfctl")
        let client = PostgresClient(configuration: runtime.postgres.clientConfiguration, backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            do {
                let results = try await MigrationRunner.apply([JobMigrations.set], on: client, logger: logger)
                for result in results {
                    print("\(result.schema): applied \(result.applied.isEmpty ? "nothing (up to date)" : "\(result.applied)")")
                }
            } catch {
                print("wharfctl: migration failed against \(runtime.postgres.maskedDescription): \(String(reflecting: error))")
                group.cancelAll()
                throw ExitCode(ExitCodes.failure)
            }
            group.cancelAll()
        }
    }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the WHARF_* environment and print the effective configuration (secrets masked).")

    func run() async throws {
        do {
            let (_, _, effective) = try WharfServiceMain.loadConfiguration(
                service: "wharfctl", defaults: .init(grpcPort: 50051, metricsPort: 9101), settings: { _ in () })
            for (name, value) in effective { print("\(name)=\(value)") }
        } catch {
            FileHandle.standardError.write(Data("wharfctl: \(error)\n".utf8))
            throw ExitCode(ExitCodes.invalidConfiguration)
        }
    }
}

func loadConfiguration(service: String) throws -> RuntimeConfiguration {
    do {
        return try WharfServiceMain.loadConfiguration(
            service: service, defaults: .init(grpcPort: 50051, metricsPort: 9101), settings: { _ in () }
        ).0
    } catch {
        FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
        throw ExitCode(ExitCodes.invalidConfiguration)
    }
}
