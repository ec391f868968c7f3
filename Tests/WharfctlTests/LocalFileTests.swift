import BLAKE3
import Foundation
import Testing
import WharfRuntime
import WharfTestSupport

@testable import wharfctl

/// What wharfctl reads and writes on this machine: `blob get`'s verified output (in place only when the bytes
/// hash to the digest, upstream's BLAKE3 vectors), the admin credential's sources, record files, and the bound
/// on what a server may stream.
@Suite("wharfctl local files")
struct LocalFileTests {
    /// BLAKE3's official vectors: input `i % 251` of each length, and the hash's first 32 bytes.
    static func blake3Vectors() throws -> [(input: Data, digest: String)] {
        let data = try Data(contentsOf: ProjectPaths.fixture("testdata/blake3_test_vectors.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(object["cases"] as? [[String: Any]])
        return try cases.map { vector in
            let length = try #require(vector["input_len"] as? Int)
            let hash = try #require(vector["hash"] as? String)
            return (Data((0..<length).map { UInt8($0 % 251) }), String(hash.prefix(64)))
        }
    }

    @Test("blob get's output hashes what it writes, and is put in place only on commit; a directory is refused; discard leaves nothing")
    func verifiedOutput() throws {
        let folder = try TemporaryDirectories.make(prefix: "wharfctl")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (index, vector) in try Self.blake3Vectors().enumerated() {
            let path = "\(folder)/blob-\(index)"
            let output = try VerifiedOutput(path: path)
            for start in stride(from: 0, to: vector.input.count, by: 1_000) {
                try output.write(vector.input[start..<min(start + 1_000, vector.input.count)])
            }
            #expect(output.digest?.hex == vector.digest, "length \(vector.input.count)")
            #expect(!FileManager.default.fileExists(atPath: path), "nothing at the path before commit")
            try output.commit()
            #expect(FileManager.default.contents(atPath: path) == vector.input)
        }
        let refused = #expect(throws: CommandFailure.self) { try VerifiedOutput(path: folder) }
        #expect(refused?.line.contains("is a directory") == true)

        let kept = "\(folder)/kept"
        try Data("earlier".utf8).write(to: URL(fileURLWithPath: kept))
        let abandoned = try VerifiedOutput(path: kept)
        try abandoned.write(Data("corrupt".utf8))
        abandoned.discard()
        #expect(FileManager.default.contents(atPath: kept) == Data("earlier".utf8))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".partial-") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test("the admin token: the variable, else its file, else the launcher's state folder; a short or missing one is a configuration error")
    func adminCredential() throws {
        let folder = try TemporaryDirectories.make(prefix: "wharfctl")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let token = TestCredentials.adminTokenText
        #expect(try AdminCredential.load(environment: ["WHARF_ADMIN_TOKEN": token]).matches(token))
        try Data("  \(token)\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/admin-token"))
        #expect(try AdminCredential.load(environment: ["WHARF_STATE_DIR": folder]).matches(token))
        // A mounted Secret: one trailing newline is ignored, nothing else is trimmed.
        try Data("\(token)\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/mounted"))
        #expect(try AdminCredential.load(environment: ["WHARF_ADMIN_TOKEN_FILE": "\(folder)/mounted"]).matches(token))

        let empty = try TemporaryDirectories.make(prefix: "wharfctl-empty")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let missing = #expect(throws: CommandFailure.self) { try AdminCredential.load(environment: ["WHARF_STATE_DIR": empty]) }
        #expect(missing?.exitCode == 78)
        #expect(missing?.line.contains("needs the admin token") == true)
        try Data("short".utf8).write(to: URL(fileURLWithPath: "\(empty)/admin-token"))
        let short = #expect(throws: CommandFailure.self) { try AdminCredential.load(environment: ["WHARF_STATE_DIR": empty]) }
        #expect(short?.line.contains("the admin token must be") == true)
        let unreadable = #expect(throws: CommandFailure.self) {
            try AdminCredential.load(environment: ["WHARF_ADMIN_TOKEN_FILE": "\(empty)/none"])
        }
        #expect(unreadable?.exitCode == 78)
    }

    @Test("a record file must be a JSON object; upstream's vector records read as records")
    func recordFiles() throws {
        let folder = try TemporaryDirectories.make(prefix: "wharfctl")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let vectors = try UpstreamRecordVectors.load()
        let path = "\(folder)/record.json"
        try vectors[0].record.data.jsonUTF8Data().write(to: URL(fileURLWithPath: path))
        #expect(try RecordFile.read(path) == vectors[0].record.data)
        for (name, contents) in [("array.json", "[1,2]"), ("broken.json", "{\"a\":"), ("invalid.json", "\u{FF}\u{FE}")] {
            try Data(contents.utf8).write(to: URL(fileURLWithPath: "\(folder)/\(name)"))
            let failure = #expect(throws: CommandFailure.self) { try RecordFile.read("\(folder)/\(name)") }
            #expect(failure?.exitCode == 65, "\(name)")
        }
        let missing = #expect(throws: CommandFailure.self) { try RecordFile.read("\(folder)/none.json") }
        #expect(missing?.line.contains("cannot be read") == true)
    }

    @Test("a server that streams without end is cut off at the bound with a clear message")
    func boundedCollection() async throws {
        let endless = AsyncStream<Int> { continuation in
            for value in 0..<20 { continuation.yield(value) }
            continuation.finish()
        }
        let failure = await #expect(throws: CommandFailure.self) {
            _ = try await BoundedCollection.collect(endless, what: "records", limit: 10) { $0 }
        }
        #expect(failure?.line == "wharfctl: the server sent more than 10 records; stopped reading (narrow the request)")
        let few = AsyncStream<Int> { continuation in
            for value in 0..<10 { continuation.yield(value) }
            continuation.finish()
        }
        #expect(try await BoundedCollection.collect(few, what: "records", limit: 10) { $0 * 2 } == (0..<10).map { $0 * 2 })
    }
}
