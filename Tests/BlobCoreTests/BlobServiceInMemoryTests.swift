import BLAKE3
import BlobCore
import Foundation
import GRPCCore
import GRPCInProcessTransport
import NIOCore
import Testing
import WharfProto
import WharfTestSupport

/// The tvix and snix BlobServices on the in-memory store, over the in-process transport: the protocol's
/// behaviour, which does not depend on a backend (each backend meets the store contract,
/// `BlobStoreContractTests`; what does depend on one is `BlobServiceTests`).
func withMemoryBlobService<T: Sendable>(
    maximumBlobSize: Int64 = 1 << 40, putIdleTimeout: Duration = .seconds(30),
    _ body: (GRPCClient<InProcessTransport.Client>, MemoryBlobStore, MemoryUploadLeases) async throws -> T
) async throws -> T {
    let store = MemoryBlobStore()
    let leases = MemoryUploadLeases()
    let core = BlobServiceCore(store: store, leases: leases, maximumBlobSize: maximumBlobSize, putIdleTimeout: putIdleTimeout)
    return try await withInProcessServer([TvixBlobService(core: core), SnixBlobService(core: core)]) { client in
        try await body(client, store, leases)
    }
}

@Suite("Blob service: the castore protocol, in memory")
struct BlobServiceInMemoryTests {
    static let sizes = [0, 1, 1023, 1024, 1025, 65_536, 131_072, 524_288, 1 << 20, 5 << 20, 20 << 20]

    @Test("Put then Read returns the same bytes and the BLAKE3 digest, for every size (empty, one byte, one chunk, many)")
    func roundTrip() async throws {
        try await withMemoryBlobService { client, _, leases in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            for size in Self.sizes {
                let data = randomBytes(size)
                let digest = try await blobs.put(data)
                #expect(digest == b3(data), "size \(size)")
                let (read, messages) = try await blobs.readAll(digest)
                #expect(read == data, "size \(size)")
                // At most one stored chunk (≤ 512 KiB) per message; an empty blob is zero messages.
                #expect(size == 0 ? messages == 0 : messages >= (size + (1 << 20) - 1) / (1 << 20), "size \(size)")
                _ = try await blobs.stat(.with { $0.digest = digest })
            }
            #expect(leases.count == 0, "every Put gave its lease back")
        }
    }

    @Test("BLAKE3's official vectors: each input Put gives the vector's digest and reads back")
    func vectors() async throws {
        let data = try Data(contentsOf: ProjectPaths.fixture("testdata/blake3_test_vectors.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(object["cases"] as? [[String: Any]])
        try await withMemoryBlobService { client, _, _ in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            for vector in cases {
                let length = try #require(vector["input_len"] as? Int)
                let hash = try #require(vector["hash"] as? String)
                let input = Data((0..<length).map { UInt8($0 % 251) })
                let digest = try await blobs.put(input, messageSize: 1000)
                #expect(digest.hexString == String(hash.prefix(64)), "length \(length)")
                #expect(try await blobs.readAll(digest).data == input)
            }
        }
    }

    @Test("Stat with send_chunks lists chunks summing to the blob; each chunk Stats and Reads by its digest; a duplicate Put changes nothing")
    func chunkList() async throws {
        try await withMemoryBlobService { client, store, _ in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            let data = randomBytes(5 << 20)
            let digest = try await blobs.put(data)
            let chunks = try await blobs.stat(
                .with {
                    $0.digest = digest; $0.sendChunks = true
                }
            ).chunks
            #expect(chunks.count >= 10)  // 5 MiB at 128-512 KiB per chunk
            #expect(chunks.reduce(0) { $0 + $1.size } == UInt64(data.count))
            #expect(chunks.dropLast().allSatisfy { (131_072...524_288).contains($0.size) })
            #expect(store.chunkCount == chunks.count)
            #expect(try await blobs.put(data, messageSize: 8192) == digest)
            #expect(store.chunkCount == chunks.count)
            // Without send_chunks: exists, no list.
            #expect(try await blobs.stat(.with { $0.digest = digest }).chunks.isEmpty)
            var offset = 0
            for chunk in chunks {
                let stat = try await blobs.stat(
                    .with {
                        $0.digest = chunk.digest; $0.sendChunks = true
                    })
                #expect(stat.chunks.isEmpty)
                let (bytes, _) = try await blobs.readAll(chunk.digest)
                #expect(bytes == data[offset..<offset + Int(chunk.size)])
                #expect(b3(bytes) == chunk.digest)
                offset += Int(chunk.size)
            }
            // A blob below the minimum chunk size is one chunk: no list.
            let small = try await blobs.put(randomBytes(100_000))
            #expect(
                try await blobs.stat(
                    .with {
                        $0.digest = small; $0.sendChunks = true
                    }
                ).chunks.isEmpty)
        }
    }

    @Test("bad digests get INVALID_ARGUMENT, unknown ones NOT_FOUND naming the digest; the empty blob exists once put")
    func badAndUnknownDigests() async throws {
        try await withMemoryBlobService { client, _, _ in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            for bad in [Data(), Data(count: 31), Data(count: 33), Data(count: 1 << 20)] {
                await expectStatus(.invalidArgument, "invalid digest length") { _ = try await blobs.stat(.with { $0.digest = bad }) }
                await expectStatus(.invalidArgument, "invalid digest length") { _ = try await blobs.readAll(bad) }
            }
            let unknown = b3(Data("never stored".utf8))
            let text = "blob b3:\(unknown.base64EncodedString()) not found"
            await expectStatus(.notFound, text) { _ = try await blobs.stat(.with { $0.digest = unknown }) }
            await expectStatus(.notFound, text) { _ = try await blobs.readAll(unknown) }
            // Empty blob: NOT_FOUND until put, then zero Read messages.
            let empty = b3(Data())
            await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = empty }) }
            #expect(try await blobs.put(Data()) == empty)
            let (bytes, messages) = try await blobs.readAll(empty)
            #expect(bytes.isEmpty && messages == 0)
        }
    }

    @Test("a blob over the maximum size gets RESOURCE_EXHAUSTED and is not stored; its lease is given back")
    func maximumSize() async throws {
        try await withMemoryBlobService(maximumBlobSize: 1_000_000) { client, _, leases in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            let data = randomBytes(1_500_000)
            await expectStatus(.resourceExhausted, "blob exceeds the maximum size of 1000000 bytes (WHARF_BLOB_MAX_BYTES)") {
                _ = try await blobs.put(data)
            }
            await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = b3(data) }) }
            #expect(leases.count == 0)
            let accepted = try await blobs.put(data[0..<1_000_000])
            #expect(accepted == b3(data[0..<1_000_000]))
        }
    }

    @Test("a Put whose client fails or goes idle commits nothing and gives its lease back at once")
    func abandonedPuts() async throws {
        try await withMemoryBlobService(putIdleTimeout: .milliseconds(300)) { client, _, leases in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            let data = randomBytes(2 << 20)
            struct Abort: Error {}
            await #expect(throws: (any Error).self) {
                _ = try await blobs.put(
                    request: StreamingClientRequest { writer in
                        try await writer.write(.with { $0.data = data[0..<(1 << 20)] })
                        throw Abort()
                    })
            }
            #expect(await eventually { leases.count == 0 })
            // Idle: the server ends the Put (the client is still there, sending nothing).
            let idle = Task {
                try await blobs.put(
                    request: StreamingClientRequest { writer in
                        try await writer.write(.with { $0.data = data[0..<1000] })
                        try await Task.sleep(for: .seconds(60))
                    })
            }
            #expect(await eventually { leases.count == 1 })
            #expect(await eventually(timeout: .seconds(10)) { leases.count == 0 })
            idle.cancel()
            _ = await idle.result
            await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = b3(data) }) }
        }
    }

    @Test("a chunk damaged in storage is DATA_LOSS before any of its bytes are sent")
    func damagedChunk() async throws {
        try await withMemoryBlobService { client, store, _ in
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            let data = randomBytes(3 << 20)
            let digest = try await blobs.put(data)
            let chunks = try await blobs.stat(
                .with {
                    $0.digest = digest; $0.sendChunks = true
                }
            ).chunks
            let second = try #require(chunks.dropFirst().first)
            let chunkDigest = try #require(BlobDigest(second.digest))
            store.damage(chunkDigest, with: ByteBuffer(repeating: 0x55, count: Int(second.size)))
            let received = try await blobs.read(.with { $0.digest = digest }) { response in
                var received = Data()
                do {
                    for try await message in response.messages { received.append(message.data) }
                    Issue.record("the read ended without an error")
                } catch let error as RPCError {
                    #expect(error.code == .dataLoss, "\(error)")
                }
                return received
            }
            #expect(received.count <= Int(chunks[0].size), "nothing of the damaged chunk was sent")
        }
    }

    @Test("the snix.castore.v1 path serves the same store, with snix's digest text")
    func snix() async throws {
        try await withMemoryBlobService { client, _, _ in
            let snix = Snix_Castore_V1_BlobService.Client(wrapping: client)
            let tvix = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            let data = randomBytes(700_000)
            let digest = try await snix.put(
                request: StreamingClientRequest { writer in
                    try await writer.write(.with { $0.data = data })
                }
            ).digest
            #expect(digest == b3(data))
            #expect(try await tvix.readAll(digest).data == data)
            let chunks = try await snix.stat(
                .with {
                    $0.digest = digest; $0.sendChunks = true
                }
            ).chunks
            #expect(chunks.reduce(0) { $0 + $1.size } == 700_000)
            let unknown = b3(Data("nope".utf8))
            await expectStatus(.notFound, "blob blake3-\(unknown.base64EncodedString()) not found") {
                _ = try await snix.stat(.with { $0.digest = unknown })
            }
        }
    }
}
