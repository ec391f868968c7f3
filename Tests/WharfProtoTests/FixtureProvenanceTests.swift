import Foundation
import Testing

/// The vendored fixtures must stay byte-identical to ../shared (the specification and upstream vectors).
@Suite("Vendored fixtures match ../shared")
struct FixtureProvenanceTests {
    static let shared = Fixtures.folder.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared")

    static let pairs: [(String, String)] = {
        let names = ["README.md", "wire-agntcy.txt", "wire-backrest.txt", "wire-orly.txt", "wire-tvix.txt"]
        let vectors = [
            "agntcy_dir_cid_vectors.json", "blake3_test_vectors.json", "negentropy_v1_vectors.json",
            "nostr_event_id_vectors.json", "hpke_pq_mlkem1024_p384_vector.json",
        ]
        return names.map { ("spec/\($0)", "spec/\($0)") } + vectors.map { ("testdata/\($0)", "testdata/\($0)") }
    }()

    @Test("every vendored file exists and is not empty")
    func present() throws {
        for (vendored, _) in Self.pairs {
            #expect(try Fixtures.data(vendored).count > 1000, "\(vendored)")
        }
    }

    @Test("vendored copies equal ../shared", .enabled(if: FileManager.default.fileExists(atPath: shared.path)))
    func identical() throws {
        for (vendored, original) in Self.pairs {
            let originalData = try Data(contentsOf: Self.shared.appendingPathComponent(original))
            #expect(try Fixtures.data(vendored) == originalData, "\(vendored) differs from ../shared/\(original)")
        }
    }
}
