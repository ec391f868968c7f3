import ArgumentParser
import GRPCCore
import WharfProto

/// `wharfctl status`: the gateway's health, every route behind it and each route's replicas, as the gateway's
/// probes see them (`wharf.gateway.v1.GatewayStatus`, administrative). Exits 2 when a route is not serving.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every service behind the gateway with its health, and each route's replicas (admin token).")
    @OptionGroup var gateway: GatewayOptions

    func run() async throws {
        var failing = false
        try await reportingFailures {
            let (overall, routes) = try await gateway.withClient(admin: true) { client, options in
                let health = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options).status
                let routes = try await Wharf_Gateway_V1_GatewayStatus.Client(wrapping: client).listRoutes(.init(), options: options).routes
                return (health, routes)
            }
            failing = overall != .serving || routes.contains { !$0.serving }
            let target = try gateway.target()
            switch gateway.output {
            case .text:
                var rows: [[String]] = []
                for route in routes {
                    let health = route.serving ? "SERVING" : "NOT_SERVING"
                    if route.replicas.isEmpty { rows.append([route.service, health, "-", "-", "-", "-"]) }
                    for replica in route.replicas {
                        rows.append([
                            route.service, health, replica.address, replica.serving ? "up" : "ejected",
                            "\(replica.consecutiveFailures)", "\(replica.openStreams)",
                        ])
                    }
                }
                emit(.text, text: "gateway \(target): \(overall == .serving ? "SERVING" : "NOT_SERVING")", json: [:])
                TextTable(header: ["SERVICE", "HEALTH", "REPLICA", "STATE", "FAILURES", "STREAMS"], rows: rows).print()
            case .json:
                for route in routes {
                    emit(
                        .json, text: "",
                        json: [
                            "service": route.service, "serving": route.serving,
                            "replicas": route.replicas.map { replica -> [String: any Sendable] in
                                [
                                    "address": replica.address, "serving": replica.serving,
                                    "consecutive_failures": replica.consecutiveFailures, "open_streams": replica.openStreams,
                                ]
                            },
                        ])
                }
            }
        }
        if failing { throw ExitCode(ExitCodes.notServing) }
    }
}
