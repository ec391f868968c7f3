import Foundation
import WharfEncoding

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

    /// From a hasher's output, known to be 32 bytes.
    package init(trusted bytes: [UInt8]) {
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
