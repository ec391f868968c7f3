import Foundation
import WharfEncoding

/// A 32-byte item id (a Nostr event id), held as four big-endian words so that comparing words compares the
/// bytes lexicographically, as the protocol orders ids.
public struct EventID: Hashable, Comparable, Sendable {
    public static let byteCount = 32

    var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    init(words w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    public static let zero = EventID(words: 0, 0, 0, 0)

    /// The id of exactly 32 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.init(padding: bytes)
    }

    /// The same for an array, without the generic path (a million ids are read at once for a reconciliation).
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self = bytes.withUnsafeBytes { Self(raw: $0) }
    }

    public init?(bytes: Data) {
        guard bytes.count == Self.byteCount else { return nil }
        self = bytes.withUnsafeBytes { Self(raw: $0) }
    }

    /// From exactly 32 raw bytes, read as four big-endian words.
    init(raw: UnsafeRawBufferPointer) {
        func word(_ index: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
        self.init(words: word(0), word(1), word(2), word(3))
    }

    /// The id whose first bytes are `prefix` (at most 32) and the rest zero: how a bound's id prefix compares.
    init(padding prefix: some Collection<UInt8>) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for (index, byte) in prefix.prefix(Self.byteCount).enumerated() {
            let shift = UInt64(56 - 8 * (index % 8))
            switch index / 8 {
            case 0: words.0 |= UInt64(byte) << shift
            case 1: words.1 |= UInt64(byte) << shift
            case 2: words.2 |= UInt64(byte) << shift
            default: words.3 |= UInt64(byte) << shift
            }
        }
        self.init(words: words.0, words.1, words.2, words.3)
    }

    /// From 64 hexadecimal digits (either case); nil otherwise.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 2 * Self.byteCount, let bytes = Data(hexString: hex) else { return nil }
        self.init(padding: bytes)
    }

    public var bytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(Self.byteCount)
        append(to: &output)
        return output
    }

    public var hex: String { bytes.hexString }

    func append(to output: inout [UInt8]) {
        for word in [w0, w1, w2, w3] {
            withUnsafeBytes(of: word.bigEndian) { output.append(contentsOf: $0) }
        }
    }

    func append(prefix length: Int, to output: inout [UInt8]) {
        guard length > 0 else { return }
        if length == Self.byteCount { return append(to: &output) }
        output.append(contentsOf: bytes.prefix(length))
    }

    func byte(at index: Int) -> UInt8 {
        let word = [w0, w1, w2, w3][index / 8]
        return UInt8(truncatingIfNeeded: word >> UInt64(56 - 8 * (index % 8)))
    }

    public static func < (lhs: EventID, rhs: EventID) -> Bool {
        if lhs.w0 != rhs.w0 { return lhs.w0 < rhs.w0 }
        if lhs.w1 != rhs.w1 { return lhs.w1 < rhs.w1 }
        if lhs.w2 != rhs.w2 { return lhs.w2 < rhs.w2 }
        return lhs.w3 < rhs.w3
    }
}
