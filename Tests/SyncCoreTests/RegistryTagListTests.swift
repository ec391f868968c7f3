import Foundation
import SyncCore
import Testing
import WharfTestSupport

/// The tag-list client against a hostile registry (Tests/Interop/hostile_registry.py): what a remote sends is
/// bounded in bytes, lengths, pages and time, and breaking a bound fails the listing with a reason that names it.
@Suite("sync: a hostile remote registry's tag list", .serialized)
struct RegistryTagListTests {
    private func withRegistry(_ mode: String, _ body: (Int) async throws -> Void) async throws {
        let port = try freePort()
        let script = ProjectPaths.root.appendingPathComponent("Tests/Interop/hostile_registry.py").path
        let server = try SpawnedProcess.spawn("/usr/bin/python3", [script, "\(port)", mode])
        defer { Task { await server.stop(grace: .seconds(1)) } }
        #expect(try await eventually(timeout: .seconds(20)) { isListening(port: port) }, "the registry did not start")
        try await body(port)
    }

    private func failure(of listing: RegistryTagList) async -> String? {
        do {
            _ = try await listing.all()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a tag longer than 256 bytes fails the listing, naming its length")
    func longTag() async throws {
        try await withRegistry("long-tag") { port in
            let failure = await failure(of: try RegistryTagList(registry: "127.0.0.1:\(port)", username: "u", password: "p"))
            #expect(failure?.contains("tag of 300 bytes") == true, "\(String(describing: failure))")
        }
    }

    @Test("a listing that never ends is given up at its overall time limit, however fast each page comes")
    func endlessListing() async throws {
        try await withRegistry("slow") { port in
            var listing = try RegistryTagList(registry: "127.0.0.1:\(port)", username: "u", password: "p")
            listing.listingDuration = .seconds(3)
            let started = ContinuousClock.now
            let failure = await failure(of: listing)
            #expect(failure?.contains("did not end within") == true, "\(String(describing: failure))")
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }
}
