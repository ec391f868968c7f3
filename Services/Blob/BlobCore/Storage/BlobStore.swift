import BLAKE3
import Foundation
import NIOCore

/// Durable storage of blobs as de-duplicated chunks (the role of tvix's BlobService backends). Writes are
/// two-phase: chunks go in first (idempotent, by digest), then `commitBlob` makes the blob visible at
/// once, listing its chunks in order. Chunks of an upload that never commits stay invisible and are
/// removed by `collectGarbage` once they are older than its grace period.
public protocol BlobStore: Sendable {
    /// Stores a chunk unless one with this digest exists (then only refreshes its age for the collector).
    func putChunk(_ digest: BlobDigest, _ bytes: ByteBuffer) async throws

    /// Records the blob `digest` of `size` bytes made of `chunks` (which must all be stored), atomically.
    /// Committing an existing blob again is a no-op.
    func commitBlob(_ digest: BlobDigest, size: Int64, chunks: [ChunkRef]) async throws

    /// The blob named by `digest`, or the chunk if only a chunk has that digest; nil when unknown.
    func record(of digest: BlobDigest) async throws -> BlobRecord?

    /// A stored chunk's bytes, or nil when unknown.
    func readChunk(_ digest: BlobDigest) async throws -> ByteBuffer?

    /// Removes chunks no blob refers to that are older than `grace` and were not written or touched since
    /// `keepingSince` (the start of the oldest upload in progress, `UploadLeaseStore`), and whatever partial files
    /// a crashed writer left. Returns the number of chunks removed.
    func collectGarbage(grace: Duration, keepingSince: Date?) async throws -> Int
}

/// Storage failures that are not "not found": the service maps them to INTERNAL / DATA_LOSS.
public enum BlobStoreError: Error, CustomStringConvertible {
    case missingChunk(BlobDigest)
    case corruptChunk(BlobDigest)
    case io(String)

    public var description: String {
        switch self {
        case .missingChunk(let digest): return "chunk \(digest) is missing"
        case .corruptChunk(let digest): return "chunk \(digest) does not match its digest"
        case .io(let message): return message
        }
    }
}
