import Foundation
import Testing
import WharfTestSupport

@Suite("wharfctl status: every route behind the gateway and each replica, from the gateway's own GatewayStatus")
struct WharfctlStatusTests {
    @Test(
        "a route with one live and one dead replica is SERVING with the dead one ejected; a route with only dead replicas is NOT_SERVING (exit 2); JSON too; the admin token is required"
    )
    func routesAndReplicas() async throws {
        let dead = try await freePort(), alsoDead = try await freePort()
        try await withEchoServer(name: "a", recorder: EchoRecorder()) { upstream, _ in
            let routes = "\(EchoService.service)=127.0.0.1:\(upstream);127.0.0.1:\(dead),wharf.test.Gone=127.0.0.1:\(alsoDead)"
            try await withGateway(routes: routes, environment: ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]) { port, _ in
                let wharfctl = try builtExecutable("wharfctl")
                let admin = ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]
                let address = ["--address", "127.0.0.1:\(port)"]
                // On a loaded machine a probe of the live replica can time out, ejecting it until the next probe
                // passes (200 ms later): each answer is read from a moment the gateway saw the live replica answer.
                func words(_ output: String) -> [[String]] {
                    output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
                }
                var text: (status: Int32?, output: String) = (nil, "")
                #expect(
                    try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
                        text = try await runExecutable(wharfctl, ["status"] + address, environment: admin)
                        return words(text.output).contains { $0.prefix(4) == [EchoService.service, "SERVING", "127.0.0.1:\(upstream)", "up"] }
                    }, "the live replica was never seen up: \(text.output)")
                #expect(text.status == 2, "a route is not serving: \(text.output)")
                let lines = words(text.output)
                #expect(lines.first == ["gateway", "127.0.0.1:\(port):", "NOT_SERVING"], "\(text.output)")
                #expect(lines.dropFirst().first == ["SERVICE", "HEALTH", "REPLICA", "STATE", "FAILURES", "STREAMS"], "\(text.output)")
                #expect(lines.contains { $0.prefix(4) == [EchoService.service, "SERVING", "127.0.0.1:\(upstream)", "up"] }, "\(text.output)")
                #expect(
                    lines.contains { $0.prefix(4) == [EchoService.service, "SERVING", "127.0.0.1:\(dead)", "ejected"] && $0[4] != "0" },
                    "\(text.output)")
                #expect(lines.contains { $0.prefix(4) == ["wharf.test.Gone", "NOT_SERVING", "127.0.0.1:\(alsoDead)", "ejected"] }, "\(text.output)")

                var json: (status: Int32?, output: String) = (nil, "")
                var objects: [[String: Any]] = []
                #expect(
                    try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
                        json = try await runExecutable(wharfctl, ["status", "--output", "json"] + address, environment: admin)
                        objects = json.output.split(separator: "\n").compactMap {
                            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                        }
                        return objects.first?["serving"] as? Bool == true
                    }, "\(json.output)")
                #expect(objects.map { $0["service"] as? String } == [EchoService.service, "wharf.test.Gone"], "\(json.output)")
                let echo = try #require(objects.first)
                #expect(echo["serving"] as? Bool == true)
                let replicas = try #require(echo["replicas"] as? [[String: Any]])
                #expect(replicas.map { $0["address"] as? String } == ["127.0.0.1:\(upstream)", "127.0.0.1:\(dead)"])
                #expect(replicas.map { $0["serving"] as? Bool } == [true, false])

                // No token anywhere (not even in a launcher state folder of the working directory).
                let empty = try TemporaryDirectories.make(prefix: "wharfctl-status")
                let noToken = try await runExecutable(wharfctl, ["status"] + address, environment: ["WHARF_STATE_DIR": empty])
                #expect(noToken.status == 78, "\(noToken.output)")
                let wrong = try await runExecutable(
                    wharfctl, ["status"] + address, environment: ["WHARF_ADMIN_TOKEN": "wharf-test-admin-token-WRONG000"])
                #expect(wrong.status == 1 && wrong.output.hasPrefix("wharfctl: UNAUTHENTICATED: "), "\(wrong.output)")
            }
        }
    }
}
