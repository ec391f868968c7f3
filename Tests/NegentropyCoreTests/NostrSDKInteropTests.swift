import Foundation
import Testing
import WharfTestSupport

@Suite("rust-nostr (nostr-sdk) against the relay")
struct NostrSDKInteropTests {
    @Test("a real Nostr client publishes, reconciles (dry run: have 3, need 5) and syncs both ways")
    func nostrSDK() async throws {
        let python = ProcessInfo.processInfo.environment["WHARF_TEST_PYTHON"]
            ?? ProjectPaths.root.appendingPathComponent(".wharf/tools/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestSupportError("\(python) not found: run the suite with scripts/wharf test, which installs nostr-sdk")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-nostr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try await withNegentropyServer { node in
            let (status, output) = try await runExecutable(python, [
                ProjectPaths.root.appendingPathComponent("Tests/Interop/nostr_client.py").path, node.relayURL, scratch.path,
            ], environment: [:], timeout: .seconds(120))
            #expect(status == 0, "\(output)")
            #expect(output.contains("ok"), "\(output)")
            // 5 shared + 5 published to the relay only + 3 the client uploaded in the sync.
            #expect(try await node.host.postgresCount() == 13)
        }
    }
}
