import BLAKE3
import BlobCore
import Foundation
import Testing
import WharfTestSupport

struct BLAKE3Vectors: Decodable {
    struct Case: Decodable {
        var input_len: Int
        var hash: String
        var keyed_hash: String
        var derive_key: String
    }
    var key: String
    var context_string: String
    var cases: [Case]

    static func load() throws -> BLAKE3Vectors {
        let url = ProjectPaths.fixture("testdata/blake3_test_vectors.json")
        return try JSONDecoder().decode(BLAKE3Vectors.self, from: Data(contentsOf: url))
    }

    /// Input for length n: byte i = i mod 251.
    static func input(_ length: Int) -> [UInt8] { (0..<length).map { UInt8($0 % 251) } }
}

extension BLAKE3Hasher {
    func finalizing(_ bytes: [UInt8]) -> String {
        update(bytes)
        return finalize().hex
    }
}

extension Array where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

@Suite("BLAKE3 against the official test vectors")
struct BLAKE3Tests {
    static let vectors: [BLAKE3Vectors.Case] = (try? BLAKE3Vectors.load().cases) ?? []

    @Test("the vector file has its 35 cases")
    func loaded() {
        #expect(Self.vectors.count == 35)
    }

    @Test("hash: 32-byte output and 131-byte extended output, in one update", arguments: vectors)
    func hash(_ vector: BLAKE3Vectors.Case) {
        let input = BLAKE3Vectors.input(vector.input_len)
        let hasher = BLAKE3Hasher()
        hasher.update(input)
        #expect(hasher.finalize(length: 131).hex == vector.hash)
        #expect(hasher.finalize().hex == String(vector.hash.prefix(64)))
        #expect(BLAKE3Hasher.hash(input).hex == String(vector.hash.prefix(64)))
    }

    @Test("keyed hash and derive key, full extended output", arguments: vectors)
    func keyedAndDerive(_ vector: BLAKE3Vectors.Case) throws {
        let file = try BLAKE3Vectors.load()
        let input = BLAKE3Vectors.input(vector.input_len)
        let keyed = try BLAKE3Hasher(key: Array(file.key.utf8))
        keyed.update(input)
        #expect(keyed.finalize(length: 131).hex == vector.keyed_hash)
        let derive = BLAKE3Hasher(deriveKeyContext: file.context_string)
        derive.update(input)
        #expect(derive.finalize(length: 131).hex == vector.derive_key)
    }

    @Test(
        "incremental updates of every awkward size give the one-shot result",
        arguments: [1, 7, 63, 64, 65, 1000, 1023, 1024, 1025, 4096, 8192, 65_537])
    func incremental(step: Int) {
        for vector in Self.vectors where vector.input_len >= 1000 {
            let input = BLAKE3Vectors.input(vector.input_len)
            let hasher = BLAKE3Hasher()
            var offset = 0
            while offset < input.count {
                let end = min(offset + step, input.count)
                input[offset..<end].withUnsafeBytes { hasher.update($0) }
                offset = end
            }
            #expect(hasher.finalize(length: 131).hex == vector.hash, "length \(vector.input_len) in steps of \(step)")
        }
    }

    @Test("each SIMD kernel this CPU runs reproduces every vector", arguments: BLAKE3Kernel.supportedByCPU)
    func kernelVectors(kernel: BLAKE3Kernel) {
        for vector in Self.vectors {
            let hasher = BLAKE3Hasher(kernel: kernel)
            hasher.update(BLAKE3Vectors.input(vector.input_len))
            #expect(hasher.finalize(length: 131).hex == vector.hash, "\(kernel) length \(vector.input_len)")
        }
    }

    @Test(
        "each kernel agrees on large inputs (many chunks and parents per call) whatever the update split",
        arguments: BLAKE3Kernel.supportedByCPU)
    func kernelsAgree(kernel: BLAKE3Kernel) {
        // 1 MiB + 3 KiB + 5 bytes: full SIMD groups, remainders, partial chunk, deep tree.
        let input = BLAKE3Vectors.input(1_048_576 + 3077)
        let expected = BLAKE3Hasher(kernel: .portable4).finalizing(input)
        // Different update splits exercise different subtree sizes.
        for split in [1_048_576, 524_288 + 1024, 16_384, 3 * 1024 + 1] {
            let hasher = BLAKE3Hasher(kernel: kernel)
            var offset = 0
            while offset < input.count {
                let end = min(offset + split, input.count)
                input[offset..<end].withUnsafeBytes { hasher.update($0) }
                offset = end
            }
            #expect(hasher.finalize().hex == expected, "\(kernel) split \(split)")
        }
        #expect(BLAKE3Kernel.supportedByCPU.contains(BLAKE3Kernel.selected))
    }

    @Test("reference digests from wire-tvix.txt: empty, Hello World!, the tvix fixture blobs")
    func referenceDigests() {
        #expect(BLAKE3Hasher.hash([UInt8]()).hex == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
        #expect(BLAKE3Hasher.hash(Array("Hello World!".utf8)).hex == "5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c")
        #expect(BLAKE3Hasher.hash([UInt8]([0, 1])).hex == "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63")
        let blobB = (0..<4096).flatMap { _ in (0...254).map { UInt8($0) } }
        #expect(blobB.count == 1_044_480)
        #expect(BLAKE3Hasher.hash(blobB).hex == "a82c5154a7a0c262c6fdb929a317585646f8fbcf80326d0a7b8747edaf2d99d2")
    }

    @Test("a key that is not 32 bytes is refused")
    func badKey() {
        #expect(throws: BLAKE3Error.invalidKeyLength(31)) { try BLAKE3Hasher(key: [UInt8](repeating: 0, count: 31)) }
    }
}
