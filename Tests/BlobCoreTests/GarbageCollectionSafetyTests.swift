import BLAKE3
import Foundation
import GRPCCore
import NIOCore
import Synchronization
import Testing
import WharfProto
import WharfTestSupport

@testable import BlobCore

@Suite("Blob garbage collection never deletes what may be live")
struct GarbageCollectionSafetyTests {
    @Test("an index that cannot be read stops the collection with an error, and nothing is deleted")
    func unreadableIndexStopsCollection() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-gc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try FileSystemBlobStore(root: root)
        func chunk(_ fill: Int, count: Int = 4096) async throws -> ChunkRef {
            let bytes = ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* fill) })
            let digest = bytes.withUnsafeReadableBytes { BlobDigest(hashing: $0) }
            try await store.putChunk(digest, bytes)
            return ChunkRef(digest: digest, size: count)
        }
        // Two committed blobs of two chunks each, and one orphan chunk.
        let blobs = [BlobDigest(trusted: Array(repeating: 1, count: 32)), BlobDigest(trusted: Array(repeating: 2, count: 32))]
        try await store.commitBlob(blobs[0], size: 8192, chunks: [try await chunk(3), try await chunk(5)])
        try await store.commitBlob(blobs[1], size: 8192, chunks: [try await chunk(7), try await chunk(11)])
        _ = try await chunk(13, count: 1000)
        let chunksFolder = root.appendingPathComponent("chunks").path
        func chunkFiles() throws -> Set<String> {
            Set(try FileManager.default.subpathsOfDirectory(atPath: chunksFolder).filter { $0.contains("/") })
        }
        let before = try chunkFiles()
        #expect(before.count == 5)

        // Damage one index (a torn write by another tool, a bad sector): the collector must not guess.
        let hex = blobs[0].hex
        let index = root.appendingPathComponent("blobs/\(hex.prefix(2))/\(hex)")
        let original = try Data(contentsOf: index)
        try Data("{\"size\": 81".utf8).write(to: index)
        let stopped = await #expect(throws: BlobStoreError.self) { _ = try await store.collectGarbage(grace: .zero, keepingSince: nil) }
        #expect("\(String(describing: stopped))".contains("nothing deleted"))
        #expect(try chunkFiles() == before)

        // Readable again: only the orphan goes, both blobs read back whole.
        try original.write(to: index)
        #expect(try await store.collectGarbage(grace: .zero, keepingSince: nil) == 1)
        #expect(try chunkFiles().count == 4)
        for blob in blobs {
            let record = try #require(await store.record(of: blob))
            for part in record.chunks { #expect(try await store.readChunk(part.digest) != nil) }
        }
    }

    @Test(
        "an upload slower than WHARF_BLOB_GC_GRACE keeps its early chunks while collections run, and commits whole",
        arguments: StoreUnderTest.allCases)
    func slowUploadSurvivesCollection(store: StoreUnderTest) async throws {
        try await withServices([.blob(store, environment: ["WHARF_BLOB_GC_GRACE": "1s"])]) { services in
            let server = RunningBlobServer(services)
            let data = randomBytes(6 << 20)
            let blobStore = try BlobServer.makeStore(try blobSettings(server, store), host: server.host)
            let leases = PostgresUploadLeases(client: server.host.postgres, logger: server.host.logger)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let collected = Mutex(0)
                let put = try await blobs.put(
                    request: StreamingClientRequest { writer in
                        try await writer.write(.with { $0.data = data[0..<(3 << 20)] })
                        // Longer than the grace, with collections meanwhile: the first chunks are stored and older.
                        for _ in 0..<3 {
                            try await Task.sleep(for: .milliseconds(900))
                            let removed = try await BlobServer.collectGarbage(store: blobStore, leases: leases, grace: .seconds(1))
                            collected.withLock { $0 += removed }
                        }
                        try await writer.write(.with { $0.data = data[(3 << 20)...] })
                    })
                #expect(put.digest == b3(data))
                #expect(collected.withLock { $0 } == 0)
                #expect(try await blobs.readAll(put.digest).data == data)
            }
            // Done: the lease is released (soon after the upload), and nothing is kept for it any more.
            #expect(try await eventually { try await leases.oldestLiveStart() == nil })
        }
    }

    @Test(
        "a Put that stops sending is ended after WHARF_BLOB_PUT_IDLE_TIMEOUT, one that runs longer than WHARF_BLOB_PUT_MAX_DURATION too; each lease goes with it"
    )
    func stalledPutsLoseTheirLease() async throws {
        try await withServices([.blob(.postgres, environment: ["WHARF_BLOB_PUT_IDLE_TIMEOUT": "3s", "WHARF_BLOB_PUT_MAX_DURATION": "6s"])]) {
            services in
            let server = RunningBlobServer(services)
            let leases = PostgresUploadLeases(client: server.host.postgres, logger: server.host.logger)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                // One message, then silence (the stream stays open).
                let stalled = await #expect(throws: RPCError.self) {
                    _ = try await blobs.put(
                        request: StreamingClientRequest { writer in
                            try await writer.write(.with { $0.data = Data(repeating: 7, count: 100_000) })
                            try await Task.sleep(for: .seconds(600))
                        })
                }
                #expect(stalled?.code == .resourceExhausted, "\(String(describing: stalled))")
                #expect(stalled?.message.contains("no progress") == true, "\(String(describing: stalled))")
                let released = try await eventually { try await leases.oldestLiveStart() == nil }
                #expect(released, "the stalled Put's lease was kept")

                // Progress every 200 ms, but for longer than the maximum.
                let endless = await #expect(throws: RPCError.self) {
                    _ = try await blobs.put(
                        request: StreamingClientRequest { writer in
                            for index in 0..<100 {
                                try await writer.write(.with { $0.data = Data(repeating: UInt8(index), count: 1000) })
                                try await Task.sleep(for: .milliseconds(200))
                            }
                        })
                }
                #expect(endless?.code == .resourceExhausted, "\(String(describing: endless))")
                #expect(endless?.message.contains("ran longer than") == true, "\(String(describing: endless))")
                let releasedAgain = try await eventually { try await leases.oldestLiveStart() == nil }
                #expect(releasedAgain)

                // A Put that keeps going within the limits commits.
                let data = randomBytes(300_000)
                let digest = try await blobs.put(data)
                #expect(digest == b3(data))
            }
        }
    }

    @Test("a chunk damaged in storage (same size, other bytes) is refused with DATA_LOSS before any of it is sent")
    func damagedChunkIsNotServed() async throws {
        try await withServices([.blob(.filesystem)]) { services in
            let server = RunningBlobServer(services)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let data = randomBytes(100_000)
                let digest = try await blobs.put(data)
                let chunks =
                    FileManager.default.enumerator(atPath: server.directory + "/chunks")?.compactMap { $0 as? String }
                    .filter { $0.contains("/") } ?? []
                let path = try #require(chunks.first.map { server.directory + "/chunks/" + $0 })
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                bytes[bytes.count / 2] ^= 0xff
                try bytes.write(to: URL(fileURLWithPath: path))
                let refused = await #expect(throws: RPCError.self) { _ = try await blobs.readAll(digest) }
                #expect(refused?.code == .dataLoss, "\(String(describing: refused))")
                #expect(refused?.message.contains("does not hash") == true)
            }
        }
    }
}
