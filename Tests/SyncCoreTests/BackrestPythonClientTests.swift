import Foundation
import Testing
import WharfProto
import WharfTestSupport

@Suite("A backrest client written in Python from the spec against the hub")
struct BackrestPythonClientTests {
    @Test("its own key and keyid, the handshake both ways, the hub's opening, 600 operations stored and the catch-up point after them")
    func pythonClient() async throws {
        let python = try testPython()
        let script = ProjectPaths.root.appendingPathComponent("Tests/Interop/backrest_client.py").path
        let folder = try TemporaryDirectories.make(prefix: "backrest-python")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keygen = try await runExecutable(python, [script, "keygen", folder], environment: [:], timeout: .seconds(60))
        #expect(keygen.status == 0, "\(keygen.output)")
        let clientKeyid = keygen.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(clientKeyid.hasPrefix("ecdsa.") && clientKeyid.utf8.count == 49, "\(clientKeyid)")
        try await withServices([.sync]) { services in
            let port = services.port("sync")
            let hubKeyid = try await withTestClient(port: port, admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                _ = try await hub.addClient(
                    .with {
                        $0.instanceID = "python-laptop"
                        $0.keyid = clientKeyid
                        $0.permissions = BackrestHubTests.readOperations
                    })
                return try await hub.getIdentity(.init()).keyid
            }
            let run = try await runExecutable(
                python,
                [
                    script, "sync", "127.0.0.1:\(port)", ProjectPaths.root.appendingPathComponent("Shared/Protos").path, folder,
                    "python-laptop", hubKeyid, "600",
                ], environment: [:], timeout: .seconds(120))
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.hasSuffix("ok\n"), "\(run.output)")
            // A client the hub does not know is refused at the handshake.
            let stranger = try await runExecutable(
                python,
                [
                    script, "sync", "127.0.0.1:\(port)", ProjectPaths.root.appendingPathComponent("Shared/Protos").path, folder,
                    "someone-else", hubKeyid, "1",
                ], environment: [:], timeout: .seconds(120))
            #expect(stranger.status != 0)
            #expect(stranger.output.contains("PERMISSION_DENIED"), "\(stranger.output)")
        }
    }
}
