import ArgumentParser
import WharfTopology

/// The system's shape as the launcher and deployment files need it: one source (`SystemShape`), printed.
struct Topology: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print which component serves which gRPC services on which default ports.",
        subcommands: [Routes.self, Ports.self], defaultSubcommand: Ports.self)

    struct Routes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "WHARF_GATEWAY_ROUTES for a system on one host (every port moved by --port-offset).")

        @Option(help: "the host every component listens on") var host = "127.0.0.1"
        @Option(help: "added to every default port (a second system beside the first)") var portOffset = 0

        func validate() throws {
            guard (0...10_000).contains(portOffset) else { throw ValidationError("--port-offset: expected 0 to 10000, got \(portOffset)") }
        }

        func run() {
            print(SystemShape.gatewayRoutes(host: host, portOffset: portOffset))
        }
    }

    struct Ports: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per component in start order: name, gRPC port, metrics port, other listeners, services.")

        @Option(help: "added to every default port") var portOffset = 0

        func validate() throws {
            guard (0...10_000).contains(portOffset) else { throw ValidationError("--port-offset: expected 0 to 10000, got \(portOffset)") }
        }

        func run() {
            for shape in SystemShape.components {
                let listeners = shape.listeners.map { "\($0.name)=\($0.port + portOffset)" }.joined(separator: ",")
                print(
                    [
                        shape.name, "\(shape.grpcPort + portOffset)", "\(shape.metricsPort + portOffset)",
                        listeners.isEmpty ? "-" : listeners, shape.serviceNames.joined(separator: ","),
                    ].joined(separator: " "))
            }
        }
    }
}
