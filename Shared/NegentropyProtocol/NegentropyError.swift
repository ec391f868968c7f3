/// Why a message could not be reconciled, in the reference implementation's words (ORLY's service wraps
/// them as "reconcile failed: …").
public struct NegentropyError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) { self.description = description }

    static let truncated = NegentropyError("parse ends prematurely")
    static let truncatedVarint = NegentropyError("premature end of varint")
    static let varintTooLong = NegentropyError("varint too long")
    static let invalidVersion = NegentropyError("invalid negentropy protocol version byte")
    static let boundTooLong = NegentropyError("bound key too long")
    static let unexpectedMode = NegentropyError("unexpected mode")
    static let frameSizeLimitTooSmall = NegentropyError("frameSizeLimit too small")
    static let invalidBucketCount = NegentropyError("buckets must be between 2 and 64")
    static let duplicateItem = NegentropyError("duplicate item inserted")
}
