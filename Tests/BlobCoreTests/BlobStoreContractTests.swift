import BLAKE3
import BlobCore
import Foundation
import Logging
import NIOCore
import Testing
import WharfTestSupport

/// What every `BlobStore` backend promises (the tvix castore habit: one protocol, several backends held to it):
/// the in-memory reference, the filesystem and PostgreSQL.
@Suite("Blob stores: one contract, every backend")
struct BlobStoreContractTests {
    enum Backend: String, CaseIterable, Sendable {
        case memory, filesystem, postgres
    }

    /// A fresh store of `backend` (PostgreSQL's on a migrated database of a running blob service).
    static func withStore(_ backend: Backend, _ body: (any BlobStore) async throws -> Void) async throws {
        switch backend {
        case .memory:
            try await body(MemoryBlobStore())
        case .filesystem:
            let folder = try TemporaryDirectories.make(prefix: "blob-contract")
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try await body(try FileSystemBlobStore(root: URL(fileURLWithPath: folder)))
        case .postgres:
            try await withServices([.blob(.postgres)]) { services in
                let host = services.host("blob")
                try await body(PostgresBlobStore(client: host.postgres, logger: host.logger))
            }
        }
    }

    static func chunk(_ text: String) -> (BlobDigest, ByteBuffer) {
        let bytes = ByteBuffer(string: text)
        return (bytes.withUnsafeReadableBytes { BlobDigest(hashing: $0) }, bytes)
    }

    @Test("chunks: stored once, read back, their own record; unknown digests are nil", arguments: Backend.allCases)
    func chunks(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let (digest, bytes) = Self.chunk("chunk one")
            try await store.putChunk(digest, bytes)
            try await store.putChunk(digest, bytes)
            #expect(try await store.readChunk(digest) == bytes)
            #expect(try await store.record(of: digest) == BlobRecord(size: 9, chunks: [ChunkRef(digest: digest, size: 9)]))
            let (unknown, _) = Self.chunk("never stored")
            #expect(try await store.readChunk(unknown) == nil)
            #expect(try await store.record(of: unknown) == nil)
        }
    }

    @Test("blobs: committed only when every chunk is stored; a second commit changes nothing", arguments: Backend.allCases)
    func blobs(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let (first, firstBytes) = Self.chunk("first part")
            let (second, secondBytes) = Self.chunk("second")
            let blob = Self.chunk("first partsecond").0
            let refs = [ChunkRef(digest: first, size: 10), ChunkRef(digest: second, size: 6)]
            try await store.putChunk(first, firstBytes)
            await #expect(throws: (any Error).self) { try await store.commitBlob(blob, size: 16, chunks: refs) }
            #expect(try await store.record(of: blob) == nil, "nothing visible after a refused commit")
            try await store.putChunk(second, secondBytes)
            try await store.commitBlob(blob, size: 16, chunks: refs)
            try await store.commitBlob(blob, size: 16, chunks: refs)
            #expect(try await store.record(of: blob) == BlobRecord(size: 16, chunks: refs))
        }
    }

    @Test("garbage collection takes only unreferenced chunks older than the grace and than the oldest live upload", arguments: Backend.allCases)
    func garbage(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let (kept, keptBytes) = Self.chunk("referenced")
            let (orphan, orphanBytes) = Self.chunk("orphan")
            try await store.putChunk(kept, keptBytes)
            try await store.putChunk(orphan, orphanBytes)
            try await store.commitBlob(Self.chunk("referenced!").0, size: 10, chunks: [ChunkRef(digest: kept, size: 10)])
            // An upload that began before the orphan was written keeps it; so does a long grace.
            #expect(try await store.collectGarbage(grace: .zero, keepingSince: Date().addingTimeInterval(-3600)) == 0)
            #expect(try await store.collectGarbage(grace: .seconds(3600), keepingSince: nil) == 0)
            #expect(try await store.readChunk(orphan) != nil)
            // Without either, the orphan goes (once it is older than now, which takes a moment) and only it.
            var removed = 0
            #expect(
                try await eventually {
                    removed += try await store.collectGarbage(grace: .zero, keepingSince: nil)
                    return removed == 1
                })
            #expect(try await store.readChunk(orphan) == nil)
            #expect(try await store.readChunk(kept) == keptBytes)
        }
    }
}
