import BLAKE3
import Foundation

/// One chunk of a blob, in blob order.
public struct ChunkRef: Hashable, Sendable {
    public var digest: BlobDigest
    public var size: Int

    public init(digest: BlobDigest, size: Int) {
        self.digest = digest
        self.size = size
    }
}

/// What the store knows of a digest: the chunks making up the bytes, in order. A chunk that is not also
/// stored as a blob is its own one-element list.
public struct BlobRecord: Sendable, Equatable {
    public var size: Int64
    public var chunks: [ChunkRef]

    public init(size: Int64, chunks: [ChunkRef]) {
        self.size = size
        self.chunks = chunks
    }
}
