import BLAKE3
import BlobCore
import Testing

@Suite("FastCDC-2020")
struct FastCDCTests {
    /// spec/tvix-blob.md §10: the first 4 MiB of the BLAKE3 XOF of "tvix-castore-fastcdc-golden".
    static let goldenInput: [UInt8] = {
        let hasher = BLAKE3Hasher()
        hasher.update(Array("tvix-castore-fastcdc-golden".utf8))
        return hasher.finalize(length: 4_194_304)
    }()

    static let goldenTable: [(offset: Int, length: Int, digest: String)] = [
        (0, 323017, "3326241c4cedc359d977b28e55718139d09651d05f1ff3ea47f45366ae5dba96"),
        (323017, 296837, "e192cf36cdd4ff2cb913553ab3a0f776ab1c35d59c9c65eb628744a7a50f1596"),
        (619854, 423323, "41d270cdb734addc9c717e13cc9d6ab5cbf6388efe5944d8a6a31c8a4b804398"),
        (1043177, 156976, "3f81b8048050016f510b6edbb135361a81e6494cb5c652f5a027f49c638a47b6"),
        (1200153, 397022, "941c721194935d32bb91ff4d7138dbeac6d44720373a6f4f59df5800268d5a7f"),
        (1597175, 261967, "6f9455a6b6622d00f2a7ecb98651093784697beaff33b259ef90bee62a81f801"),
        (1859142, 472554, "0008558610293f5294fe506cc6f7e6564e4366aab675005bcf0ec01b361fd67e"),
        (2331696, 292874, "7f46d50099e83fb14d9db122d48be6e15aed2343160e58cb490e3642480c9295"),
        (2624570, 343682, "471ef259891217542f4d4a74741beff3b2f8f55b607957cca984021709b988cf"),
        (2968252, 329594, "42019b921cdf2314556ac477076f13b21d3c9f12e0b1e1abea564fe8bf2cbb7b"),
        (3297846, 242515, "6812750953f62d1517a513a063497d7659a23f38c077c8b719e0d163f43598e9"),
        (3540361, 268493, "2d040abc0fbd0b9afa7b7677948b8c9276aee25932a86cc61531fbf57ee08cd4"),
        (3808854, 385450, "ca46d8d5e3ffcbdca9f5f116e3cb661930828b43c825336550d22954670571bc"),
    ]

    @Test("the golden input is the documented blob")
    func goldenBlob() {
        #expect(BLAKE3Hasher.hash(Self.goldenInput).hex == "0980020f6522e45d132a9ccf2e0821e98cc6a8a7f95e893320014b8433bfd65f")
    }

    @Test("cutting the golden input reproduces the golden table (offsets, lengths, chunk digests)")
    func goldenTable() {
        var chunks: [(Int, Int, String)] = []
        var offset = 0
        Self.goldenInput.withUnsafeBytes { all in
            while offset < all.count {
                let length = FastCDC.tvix.cut(UnsafeRawBufferPointer(rebasing: all[offset...]))
                chunks.append((offset, length, BLAKE3Hasher.hash(UnsafeRawBufferPointer(rebasing: all[offset..<offset + length])).hex))
                offset += length
            }
        }
        #expect(chunks.count == Self.goldenTable.count)
        for (actual, expected) in zip(chunks, Self.goldenTable) {
            #expect(actual.0 == expected.offset && actual.1 == expected.length && actual.2 == expected.digest)
        }
    }

    @Test("the streaming chunker cuts the same chunks whatever the append sizes", arguments: [1000, 8192, 65_536, 1_048_576])
    func streaming(appendSize: Int) {
        var chunker = StreamingChunker()
        var lengths: [Int] = []
        Self.goldenInput.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let end = min(offset + appendSize, all.count)
                chunker.append(UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                while let chunk = chunker.nextChunk() { lengths.append(chunk.readableBytes) }
                offset = end
            }
            while let chunk = chunker.nextChunk(final: true) { lengths.append(chunk.readableBytes) }
        }
        #expect(lengths == Self.goldenTable.map(\.length))
    }

    @Test("chunks respect the bounds: only the last may be under the minimum, none over the maximum")
    func bounds() {
        let data = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        var lengths: [Int] = []
        var chunker = StreamingChunker()
        data.withUnsafeBytes { chunker.append($0) }
        while let chunk = chunker.nextChunk(final: true) { lengths.append(chunk.readableBytes) }
        #expect(lengths.reduce(0, +) == data.count)
        #expect(lengths.dropLast().allSatisfy { (131_072...524_288).contains($0) })
        #expect(lengths.allSatisfy { $0 <= 524_288 })
    }
}
