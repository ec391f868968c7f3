import BLAKE3
import Foundation
import NIOCore
import Synchronization

/// A `BlobStore` in this process's memory, as tvix's `MemoryBlobService`: the reference of the protocol's
/// behaviour, which the store contract tests hold every backend to, and the store of tests that exercise the
/// blob service rather than a backend. Not offered as `WHARF_BLOB_STORE`: everything is lost at exit.
package final class MemoryBlobStore: BlobStore {
    private struct Chunk {
        var bytes: ByteBuffer
        var touched: Date
    }

    private struct Contents {
        var chunks: [BlobDigest: Chunk] = [:]
        var blobs: [BlobDigest: BlobRecord] = [:]
    }

    private let contents = Mutex(Contents())
    private let now: @Sendable () -> Date

    /// `now`: the clock chunk ages are measured with (tests move it).
    package init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    package func putChunk(_ digest: BlobDigest, _ bytes: ByteBuffer) async throws {
        let time = now()
        contents.withLock { contents in
            if contents.chunks[digest] != nil {
                contents.chunks[digest]?.touched = time
            } else {
                contents.chunks[digest] = Chunk(bytes: bytes, touched: time)
            }
        }
    }

    package func commitBlob(_ digest: BlobDigest, size: Int64, chunks: [ChunkRef]) async throws {
        try contents.withLock { contents in
            guard contents.blobs[digest] == nil else { return }
            if let missing = chunks.first(where: { contents.chunks[$0.digest] == nil }) { throw BlobStoreError.missingChunk(missing.digest) }
            contents.blobs[digest] = BlobRecord(size: size, chunks: chunks)
        }
    }

    package func record(of digest: BlobDigest) async throws -> BlobRecord? {
        contents.withLock { contents in
            if let blob = contents.blobs[digest] { return blob }
            guard let chunk = contents.chunks[digest] else { return nil }
            let size = chunk.bytes.readableBytes
            return BlobRecord(size: Int64(size), chunks: [ChunkRef(digest: digest, size: size)])
        }
    }

    package func readChunk(_ digest: BlobDigest) async throws -> ByteBuffer? {
        contents.withLock { $0.chunks[digest]?.bytes }
    }

    package func collectGarbage(grace: Duration, keepingSince: Date?) async throws -> Int {
        let cutoff = now().addingTimeInterval(-Self.seconds(grace))
        let keep = keepingSince ?? .distantFuture
        return contents.withLock { contents in
            let referenced = Set(contents.blobs.values.flatMap { $0.chunks.map(\.digest) })
            let removable = contents.chunks.filter { digest, chunk in
                chunk.touched < cutoff && chunk.touched < keep && !referenced.contains(digest)
            }.keys
            for digest in removable { contents.chunks[digest] = nil }
            return removable.count
        }
    }

    /// Damages a stored chunk in place (tests of what a read does with storage that went bad).
    package func damage(_ digest: BlobDigest, with bytes: ByteBuffer) {
        contents.withLock { $0.chunks[digest]?.bytes = bytes }
    }

    package var chunkCount: Int { contents.withLock { $0.chunks.count } }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
