import BLAKE3
import Foundation
import Logging
import NIOCore

/// One Put in progress: hashes the whole blob and cuts it into FastCDC chunks while bytes arrive, stores
/// each chunk as soon as it is cut (several stores in flight at once), and commits the blob only in
/// `finish()`. Memory stays bounded by the chunker window plus the chunks being stored, whatever the blob
/// size. If the upload is abandoned, nothing is committed: its chunks are orphans for `collectGarbage`.
public struct BlobUpload: ~Copyable {
    /// Chunk writes allowed in flight before the upload waits for the oldest.
    static let storeWindow = 4

    private let store: any BlobStore
    private let maximumSize: Int64
    private var chunker = StreamingChunker()
    private let blobHasher = BLAKE3Hasher()
    /// Chunk writes in blob order; each task hashes its chunk (on another core than the blob hasher) and
    /// stores it, returning its reference.
    private var pending: [Task<ChunkRef, any Error>] = []
    private var chunks: [ChunkRef] = []
    public private(set) var size: Int64 = 0

    public init(store: any BlobStore, maximumSize: Int64) {
        self.store = store
        self.maximumSize = maximumSize
    }

    /// Adds the next bytes of the blob. Throws `BlobUploadError.tooLarge` past the maximum size.
    public mutating func append(_ bytes: Data) async throws {
        guard !bytes.isEmpty else { return }
        size += Int64(bytes.count)
        guard size <= maximumSize else { throw BlobUploadError.tooLarge(limit: maximumSize) }
        bytes.withUnsafeBytes { chunker.append($0) }
        while let chunk = chunker.nextChunk() { try await storeChunk(chunk) }
    }

    /// Stores the last chunk, waits for every chunk write, commits the blob and returns its digest.
    public consuming func finish() async throws -> BlobDigest {
        while let chunk = chunker.nextChunk(final: true) { try await storeChunk(chunk) }
        for task in pending { chunks.append(try await task.value) }
        pending = []
        let digest = BlobDigest(trusted: blobHasher.finalize())
        try await store.commitBlob(digest, size: size, chunks: chunks)
        return digest
    }

    /// Abandons the upload: in-flight chunk writes are cancelled, nothing is committed.
    public consuming func abandon() {
        for task in pending { task.cancel() }
    }

    private mutating func storeChunk(_ chunk: ByteBuffer) async throws {
        // Chunks are ≥ 128 KiB (but the last), so both hashers see large updates.
        chunk.withUnsafeReadableBytes { blobHasher.update($0) }
        let store = self.store
        pending.append(
            Task {
                let digest = chunk.withUnsafeReadableBytes { BlobDigest(hashing: $0) }
                try await store.putChunk(digest, chunk)
                return ChunkRef(digest: digest, size: chunk.readableBytes)
            })
        if pending.count > Self.storeWindow {
            chunks.append(try await pending.removeFirst().value)
        }
    }

    deinit {
        for task in pending { task.cancel() }
    }
}

public enum BlobUploadError: Error, Equatable {
    case tooLarge(limit: Int64)
}
