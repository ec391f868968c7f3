import Crypto

/// A 256-bit unsigned sum of ids, each read as a little-endian integer, modulo 2^256.
struct IDSum: Equatable, Sendable {
    /// Least significant limb first.
    var limbs: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    static let zero = IDSum()

    static func == (lhs: IDSum, rhs: IDSum) -> Bool {
        lhs.limbs.0 == rhs.limbs.0 && lhs.limbs.1 == rhs.limbs.1 && lhs.limbs.2 == rhs.limbs.2 && lhs.limbs.3 == rhs.limbs.3
    }

    /// Adds an id. Its bytes 0–7 are the least significant limb, read little-endian: the big-endian word
    /// `EventID` keeps, byte-swapped.
    mutating func add(_ id: EventID) {
        add((id.w0.byteSwapped, id.w1.byteSwapped, id.w2.byteSwapped, id.w3.byteSwapped))
    }

    mutating func add(_ other: IDSum) { add(other.limbs) }

    func adding(_ other: IDSum) -> IDSum {
        var sum = self
        sum.add(other)
        return sum
    }

    private mutating func add(_ other: (UInt64, UInt64, UInt64, UInt64)) {
        var carry: UInt64 = 0
        func step(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (partial, overflow1) = a.addingReportingOverflow(b)
            let (sum, overflow2) = partial.addingReportingOverflow(carry)
            carry = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
            return sum
        }
        limbs.0 = step(limbs.0, other.0)
        limbs.1 = step(limbs.1, other.1)
        limbs.2 = step(limbs.2, other.2)
        limbs.3 = step(limbs.3, other.3)
    }

    /// `self − other` modulo 2^256 (the sum of a range from two prefix sums).
    func subtracting(_ other: IDSum) -> IDSum {
        var borrow: UInt64 = 0
        func step(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (partial, underflow1) = a.subtractingReportingOverflow(b)
            let (difference, underflow2) = partial.subtractingReportingOverflow(borrow)
            borrow = (underflow1 ? 1 : 0) + (underflow2 ? 1 : 0)
            return difference
        }
        var result = IDSum()
        result.limbs.0 = step(limbs.0, other.limbs.0)
        result.limbs.1 = step(limbs.1, other.limbs.1)
        result.limbs.2 = step(limbs.2, other.limbs.2)
        result.limbs.3 = step(limbs.3, other.limbs.3)
        return result
    }

    /// The protocol's fingerprint of a range with this sum and `count` items: the first 16 bytes of
    /// SHA-256(sum as 32 little-endian bytes ‖ varint(count)).
    func fingerprint(count: Int) -> [UInt8] {
        var input: [UInt8] = []
        input.reserveCapacity(EventID.byteCount + 10)
        for limb in [limbs.0, limbs.1, limbs.2, limbs.3] {
            withUnsafeBytes(of: limb.littleEndian) { input.append(contentsOf: $0) }
        }
        Varint.append(UInt64(count), to: &input)
        return Array(SHA256.hash(data: input).prefix(Fingerprint.byteCount))
    }
}

public enum Fingerprint {
    public static let byteCount = 16

    /// The fingerprint of a set of ids (for tests and tools; storages compute it from their sums).
    public static func of(_ ids: [EventID]) -> [UInt8] {
        var sum = IDSum()
        for id in ids { sum.add(id) }
        return sum.fingerprint(count: ids.count)
    }
}
