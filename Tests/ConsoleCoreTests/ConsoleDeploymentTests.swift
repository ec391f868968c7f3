import ConsoleCore
import Foundation
import Testing
import WharfRuntime
import WharfTestSupport

@Suite("console: its compose service and k8s Deployment start with an environment the console accepts")
struct ConsoleDeploymentTests {
    @Test("docker-compose.yml's console and k8s/50-console.yaml parse; both reach the gateway and serve metrics on 9106")
    func deployments() async throws {
        let compose = try #require(try await DeploymentFiles.documents("docker-compose.yml").first)
        let service = try #require((compose["services"] as? [String: [String: Any]])?["console"])
        #expect(service["command"] as? [String] == ["console"])
        let raw = service["environment"] as? [String: Any] ?? [:]
        // ${NAME:-default} as compose substitutes it when NAME is unset; the admin token as a user sets it.
        var environment = raw.mapValues { "\($0)".replacing(/\$\{[A-Z_]+:-([^}]*)\}/) { String($0.output.1) } }
        environment["WHARF_ADMIN_TOKEN"] = String(repeating: "ab", count: 24)
        let fromCompose = try ConsoleRunner.configuration(environment: environment)
        #expect(fromCompose.settings.gateway.description == "gateway:50050")
        #expect(fromCompose.gatewayMetrics?.description == "gateway:9100")
        #expect(fromCompose.runtime.metricsListen?.port == 9106 && fromCompose.runtime.listen.port == 8088)
        #expect(fromCompose.settings.viewerToken == nil && !fromCompose.settings.secureCookies)

        let documents = try await DeploymentFiles.kubernetes()
        let deployment = try #require(
            documents.first { $0["kind"] as? String == "Deployment" && ($0["metadata"] as? [String: Any])?["name"] as? String == "console" })
        let template = (deployment["spec"] as? [String: Any])?["template"] as? [String: Any]
        let container = try #require(((template?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
        var kubernetes: [String: String] = [:]
        for entry in container["env"] as? [[String: Any]] ?? [] {
            guard let name = entry["name"] as? String else { continue }
            kubernetes[name] = entry["value"] as? String ?? String(repeating: "cd", count: 24)
        }
        let fromKubernetes = try ConsoleRunner.configuration(environment: kubernetes)
        #expect(fromKubernetes.settings.secureCookies)
        #expect(fromKubernetes.settings.gatewayCAFile == "/etc/wharf/tls/tls.crt")
        #expect(fromKubernetes.settings.gateway.host == "gateway.wharf.svc.cluster.local")
        // The console may reach every service's gRPC port (its replicas' own status) through the network policy.
        let policy = try #require(
            documents.first { ($0["metadata"] as? [String: Any])?["name"] as? String == "services-from-gateway" })
        #expect("\(policy)".contains("console"))
    }

    @Test(
        "without an admin token the console lets nobody sign in; a short viewer token, a gateway address without a port or an origin that is no scheme://host is refused at start"
    )
    func noAdminToken() throws {
        let loaded = try ConsoleRunner.configuration(environment: ["WHARF_LISTEN": "127.0.0.1:0"])
        #expect(loaded.runtime.adminToken == nil)
        #expect(!ConsoleSessionSigner(adminToken: nil, viewerToken: nil).canSignIn)
        #expect(throws: ConfigurationError.self) { try ConsoleRunner.configuration(environment: ["WHARF_CONSOLE_VIEWER_TOKEN": "short"]) }
        #expect(throws: ConfigurationError.self) { try ConsoleRunner.configuration(environment: ["WHARF_CONSOLE_GATEWAY": "no-port"]) }
        for origin in ["console.example.org", "ftp://console.example.org", "https://console.example.org/path", "https://"] {
            #expect(throws: ConfigurationError.self, "\(origin)") {
                try ConsoleRunner.configuration(environment: ["WHARF_CONSOLE_ORIGIN": origin])
            }
        }
        #expect(
            try ConsoleRunner.configuration(environment: ["WHARF_CONSOLE_ORIGIN": "https://console.example.org/"]).settings.publicOrigin
                == "https://console.example.org")
    }
}
