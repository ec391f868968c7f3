import Foundation
import WharfRuntime

/// A BLAKE3-256 digest naming a blob or a chunk.
public struct BlobDigest: Hashable, Sendable, CustomStringConvertible {
    public static let length = 32
    public let bytes: Data

    /// nil unless `bytes` is exactly 32 bytes.
    public init?(_ bytes: Data) {
        guard bytes.count == Self.length else { return nil }
        self.bytes = Data(bytes)
    }

    public init(hashing data: UnsafeRawBufferPointer) {
        let hasher = BLAKE3Hasher()
        hasher.update(data)
        bytes = Data(hasher.finalize())
    }

    init(trusted bytes: [UInt8]) {
        self.bytes = Data(bytes)
    }

    public var hex: String { bytes.hexString }

    /// tvix's text form: "b3:" + standard base64.
    public var tvixText: String { "b3:" + bytes.base64EncodedString() }
    /// snix's text form: "blake3-" + standard base64.
    public var snixText: String { "blake3-" + bytes.base64EncodedString() }

    public var description: String { hex }

    /// BLAKE3 of the empty input.
    public static let empty = BlobDigest(trusted: BLAKE3Hasher.hash([UInt8]()))
}

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
