import BlobCore
import Foundation
import GatewayCore
import NegentropyCore
import RoutingCore
import StoreCore
import SyncCore
import Testing
import WharfRuntime
import WharfTestSupport
import WharfTopology

/// `SystemShape` is the one description of which executable serves which services on which ports; everything
/// else that spells the shape out is compared with it here, so a difference fails the suite.
@Suite("The system's shape: one route table, every copy checked against it")
struct SystemShapeTests {
    @Test("each service serves exactly the services the shape gives it, named by the generated descriptors")
    func servedServices() async throws {
        #expect(Self.programs.map(\.component) == SystemShape.components.map(\.component).filter { $0 != .gateway })
        let served = try await withServices(Self.programs.map { InProcessService.startable($0.program) }) { services in
            var served: [WharfComponent: [String]] = [:]
            for (component, _) in Self.programs { served[component] = await services.host(component.rawValue).servedServiceNames }
            return served
        }
        #expect(Set(served.keys) == Set(SystemShape.routed.map(\.component)))
        for shape in SystemShape.routed {
            #expect(served[shape.component] == shape.serviceNames.sorted(), "\(shape.name)")
        }
        // Defaults come from the shape too.
        let defaults = Dictionary(
            uniqueKeysWithValues: Self.programs.map { ($0.component, $0.program.defaults) } + [(.gateway, GatewayRunner.defaults)])
        #expect(defaults.count == WharfComponent.allCases.count)
        for (component, defaults) in defaults {
            let shape = SystemShape.shape(of: component)
            #expect(defaults.grpcPort == shape.grpcPort && defaults.metricsPort == shape.metricsPort, "\(component)")
        }
    }

    @Test("the gateway's default routes send every routed service to its component; a component's name routes all its services")
    func gatewayDefaults() throws {
        let routes = try RouteTable.parse(RouteTable.defaults()).routes
        let expected = Dictionary(
            uniqueKeysWithValues: SystemShape.routed.flatMap { shape in
                shape.serviceNames.map { ($0, "127.0.0.1:\(shape.grpcPort)") }
            })
        #expect(Self.addresses(routes) == expected)
        // Every service name is unique to one component, and component names never look like services.
        let names = SystemShape.components.flatMap(\.serviceNames)
        #expect(Set(names).count == names.count)
        #expect(SystemShape.components.allSatisfy { !$0.name.contains(".") })
        let shorthand = try RouteTable.parse("store=db-host:1,blob=dns:blob-pods:2").routes
        #expect(Set(shorthand.keys) == Set(SystemShape.store.serviceNames + SystemShape.blob.serviceNames))
        #expect(throws: ConfigurationProblem.self) { try RouteTable.parse("stor=db-host:1") }
        #expect(throws: ConfigurationProblem.self) { try RouteTable.parse("gateway=db-host:1") }
    }

    @Test("scripts/wharf starts the components in the shape's order on its ports; the README's port table agrees")
    func launcherAndReadme() throws {
        let launcher = try String(contentsOf: ProjectPaths.root.appendingPathComponent("scripts/wharf"), encoding: .utf8)
        let list = try #require(launcher.firstMatch(of: /for entry in ([a-z0-9: ]+); do/)?.1)
        #expect(String(list) == SystemShape.components.map { "\($0.name):\($0.grpcPort)" }.joined(separator: " "))
        #expect(launcher.contains("relay_port=$((\(SystemShape.relayPort) + offset))"))
        #expect(launcher.contains("oci_port=$((\(SystemShape.ociRegistryPort) + offset))"))
        // The launcher's metrics ports are 9100 + (gRPC port - 50050).
        #expect(launcher.contains("local metrics=$((9100 + port - 50050))"))
        #expect(SystemShape.components.allSatisfy { $0.metricsPort == 9100 + $0.grpcPort - 50050 })
        #expect(launcher.contains("wharfctl\" topology routes"))

        let readme = try String(contentsOf: ProjectPaths.root.appendingPathComponent("README.md"), encoding: .utf8)
        for shape in SystemShape.components {
            let listeners = shape.listeners.map { "127.0.0.1:\($0.port)" }
            let row = try #require(
                readme.split(separator: "\n").first { $0.hasPrefix("| \(shape.name) | 127.0.0.1:") }, "no README port row for \(shape.name)")
            #expect(row.contains("127.0.0.1:\(shape.grpcPort)") && row.hasSuffix("| 127.0.0.1:\(shape.metricsPort) |"), "\(row)")
            #expect(listeners.allSatisfy { row.contains($0) }, "\(row)")
        }
    }

    @Test("docker-compose.yml: every component's listen addresses, healthcheck and the gateway's routes agree with the shape")
    func compose() async throws {
        let compose = try #require(try await DeploymentFiles.documents("docker-compose.yml").first)
        let services = try #require(compose["services"] as? [String: [String: Any]])
        for shape in SystemShape.components {
            let service = try #require(services[shape.name], "no compose service \(shape.name)")
            #expect((service["command"] as? [String])?.first == shape.name)
            let environment = service["environment"] as? [String: Any] ?? [:]
            #expect(environment["WHARF_LISTEN"] as? String == "0.0.0.0:\(shape.grpcPort)", "\(shape.name)")
            #expect(environment["WHARF_METRICS_LISTEN"] as? String == "0.0.0.0:\(shape.metricsPort)", "\(shape.name)")
            for listener in shape.listeners {
                #expect(environment[listener.variable] as? String == "0.0.0.0:\(listener.port)", "\(shape.name) \(listener.variable)")
            }
            let probe = ((service["healthcheck"] as? [String: Any])?["test"] as? [String]) ?? []
            #expect(probe.contains("127.0.0.1:\(shape.grpcPort)"), "\(shape.name): \(probe)")
        }
        let gateway = try #require(services["gateway"]?["environment"] as? [String: Any])
        let routes = try RouteTable.parse(try #require(gateway["WHARF_GATEWAY_ROUTES"] as? String)).routes
        let expected = Dictionary(
            uniqueKeysWithValues: SystemShape.routed.flatMap { shape in
                shape.serviceNames.map { ($0, "\(shape.name):\(shape.grpcPort)") }
            })
        #expect(Self.addresses(routes) == expected)
    }

    @Test("k8s/: every Deployment's ports, probes and Services, and the gateway's routes, agree with the shape")
    func kubernetes() async throws {
        let documents = try await DeploymentFiles.kubernetes()
        func object(_ kind: String, _ name: String) -> [String: Any]? {
            documents.first { $0["kind"] as? String == kind && ($0["metadata"] as? [String: Any])?["name"] as? String == name }
        }
        for shape in SystemShape.components {
            let deployment = try #require(object("Deployment", shape.name), "no Deployment \(shape.name)")
            let template = try #require((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])
            let annotations = (template["metadata"] as? [String: Any])?["annotations"] as? [String: String] ?? [:]
            #expect(annotations["prometheus.io/port"] == "\(shape.metricsPort)", "\(shape.name)")
            let containers = try #require((template["spec"] as? [String: Any])?["containers"] as? [[String: Any]])
            let container = try #require(containers.first { ($0["command"] as? [String])?.first == shape.name }, "\(shape.name)")
            let ports = Dictionary(
                uniqueKeysWithValues: (container["ports"] as? [[String: Any]] ?? []).compactMap { port in
                    (port["name"] as? String).map { ($0, port["containerPort"] as? Int ?? -1) }
                })
            var expectedPorts = ["grpc": shape.grpcPort, "metrics": shape.metricsPort]
            for listener in shape.listeners { expectedPorts[listener.portName] = listener.port }
            #expect(ports == expectedPorts, "\(shape.name)")
            let environment = Dictionary(
                (container["env"] as? [[String: Any]] ?? []).compactMap { entry in
                    (entry["name"] as? String).map { ($0, entry["value"] as? String ?? "") }
                }, uniquingKeysWith: { first, _ in first })
            #expect(environment["WHARF_LISTEN"] == "0.0.0.0:\(shape.grpcPort)", "\(shape.name)")
            #expect(environment["WHARF_METRICS_LISTEN"] == "0.0.0.0:\(shape.metricsPort)", "\(shape.name)")
            for listener in shape.listeners {
                #expect(environment[listener.variable] == "0.0.0.0:\(listener.port)", "\(shape.name) \(listener.variable)")
            }
            let service = try #require(object("Service", shape.name), "no Service \(shape.name)")
            let servicePorts = ((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]]) ?? []
            let grpc = servicePorts.first { $0["name"] as? String == "grpc" }
            #expect(grpc?["port"] as? Int == shape.grpcPort && grpc?["targetPort"] as? Int == shape.grpcPort, "\(shape.name)")
            for listener in shape.listeners {
                #expect(servicePorts.contains { $0["name"] as? String == listener.portName && $0["port"] as? Int == listener.port }, "\(shape.name)")
            }
        }
        for shape in SystemShape.routed {
            let headless = try #require(object("Service", "\(shape.name)-pods"), "no headless Service \(shape.name)-pods")
            let ports = ((headless["spec"] as? [String: Any])?["ports"] as? [[String: Any]]) ?? []
            #expect(ports.contains { $0["name"] as? String == "grpc" && $0["port"] as? Int == shape.grpcPort }, "\(shape.name)-pods")
        }
        let gateway = try #require(object("Deployment", "gateway"))
        let template = (gateway["spec"] as? [String: Any])?["template"] as? [String: Any]
        let container = ((template?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first
        let routesText = try #require(
            (container?["env"] as? [[String: Any]])?.first { $0["name"] as? String == "WHARF_GATEWAY_ROUTES" }?["value"] as? String)
        let routes = try RouteTable.parse(routesText).routes
        let expected = Dictionary(
            uniqueKeysWithValues: SystemShape.routed.flatMap { shape in
                shape.serviceNames.map { ($0, "dns:\(shape.name)-pods.wharf.svc.cluster.local:\(shape.grpcPort)") }
            })
        #expect(Self.addresses(routes) == expected)
    }

    @Test("every compose service and every k8s Deployment starts with an environment its own configuration parser accepts")
    func deploymentEnvironments() async throws {
        let compose = try #require(try await DeploymentFiles.documents("docker-compose.yml").first)
        let services = try #require(compose["services"] as? [String: [String: Any]])
        for shape in SystemShape.components {
            let raw = services[shape.name]?["environment"] as? [String: Any] ?? [:]
            // ${NAME:-default} as compose substitutes it when NAME is unset; ${NAME} as empty.
            let environment = raw.mapValues { value in
                "\(value)".replacing(/\$\{[A-Z_]+:-([^}]*)\}/) { String($0.output.1) }.replacing(/\$\{[A-Z_]+\}/) { _ in "" }
            }
            #expect(throws: Never.self, "compose \(shape.name)") { try Self.validate(shape.component, environment) }
        }
        // The gateway's TLS files come from a Secret volume in a cluster; here from a certificate made now.
        let (certificate, key) = try await TestCertificates.selfSigned()
        let documents = try await DeploymentFiles.kubernetes()
        let configMap = documents.first { $0["kind"] as? String == "ConfigMap" }?["data"] as? [String: String] ?? [:]
        for document in documents where document["kind"] as? String == "Deployment" {
            let template = (document["spec"] as? [String: Any])?["template"] as? [String: Any]
            let containers = ((template?["spec"] as? [String: Any])?["containers"] as? [[String: Any]]) ?? []
            for container in containers {
                guard let name = (container["command"] as? [String])?.first, let component = WharfComponent(rawValue: name) else { continue }
                var environment = configMap
                for entry in container["env"] as? [[String: Any]] ?? [] {
                    guard let variable = entry["name"] as? String else { continue }
                    environment[variable] = entry["value"] as? String ?? Self.secretStandIn(variable)
                }
                if environment["WHARF_TLS_CERT"] != nil { environment["WHARF_TLS_CERT"] = certificate }
                if environment["WHARF_TLS_KEY"] != nil { environment["WHARF_TLS_KEY"] = key }
                #expect(throws: Never.self, "k8s \(name)") { try Self.validate(component, environment) }
            }
        }
    }

    /// What a Secret or the downward API gives a variable in a real cluster (README "Deploying").
    static func secretStandIn(_ variable: String) -> String {
        switch variable {
        case "WHARF_POSTGRES_URL": "postgres://wharf:5e1b2c@postgres.wharf.svc.cluster.local:5432/wharf?sslmode=disable"
        case "WHARF_GATEWAY_TOKENS": "*=\(String(repeating: "ab", count: 24))"
        case "WHARF_NODE_ID": "store-5d9f7c-abcde"
        default: String(repeating: "cd", count: 24)
        }
    }

    /// Every service program with its component, in the shape's start order (the gateway is none: it keeps no
    /// state and runs no WharfServiceHost).
    static let programs: [(component: WharfComponent, program: any WharfServiceProgram.Type)] = [
        (.store, StoreServer.self), (.routing, RoutingServer.self), (.sync, SyncServer.self), (.blob, BlobServer.self),
        (.negentropy, NegentropyServer.self),
    ]

    /// Loads `environment` with the component's own configuration parser (runtime and service settings).
    static func validate(_ component: WharfComponent, _ environment: [String: String]) throws {
        func load<Program: WharfServiceProgram>(_ program: Program.Type) throws { _ = try program.configuration(environment: environment) }
        if let program = programs.first(where: { $0.component == component })?.program {
            try load(program)
        } else {
            _ = try WharfServiceMain.loadConfiguration(service: "gateway", defaults: GatewayRunner.defaults, environment: environment) {
                GatewaySettings(reader: $0)
            }
        }
    }

    /// service → its one address as configured text (`host:port` or `dns:host:port`).
    static func addresses(_ routes: [String: RouteTable.Route]) -> [String: String] {
        routes.mapValues { route in
            route.cluster.targets.map { target in
                switch target {
                case .fixed(let address): "\(address.host):\(address.port)"
                case .dns(let address): "dns:\(address.host):\(address.port)"
                }
            }.joined(separator: ";")
        }
    }
}
