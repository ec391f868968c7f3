/// Reads one message. Bound timestamps are deltas from the previous bound of the same message.
struct MessageReader {
    private let bytes: [UInt8]
    private var position: Int
    private var lastTimestamp: UInt64 = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = 0
    }

    var isAtEnd: Bool { position >= bytes.count }

    mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw NegentropyError.truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count <= bytes.count - position else { throw NegentropyError.truncated }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<10 {
            guard position < bytes.count else { throw NegentropyError.truncatedVarint }
            let byte = bytes[position]
            position += 1
            value = value << 7 | UInt64(byte & 0x7f)
            if byte & 0x80 == 0 { return value }
        }
        throw NegentropyError.varintTooLong
    }

    /// A count that must fit the rest of the message in `itemSize`-byte items.
    mutating func count(ofItemsSized itemSize: Int) throws -> Int {
        let value = try varint()
        guard value <= UInt64(bytes.count - position) / UInt64(itemSize) else { throw NegentropyError.truncated }
        return Int(value)
    }

    mutating func bound() throws -> Bound {
        let encoded = try varint()
        let timestamp: UInt64
        if encoded == 0 || lastTimestamp == .max {
            timestamp = .max
        } else {
            let (sum, overflow) = lastTimestamp.addingReportingOverflow(encoded - 1)
            timestamp = overflow ? .max : sum
        }
        lastTimestamp = timestamp
        let length = try varint()
        guard length <= UInt64(EventID.byteCount) else { throw NegentropyError.boundTooLong }
        let prefix = try bytes(Int(length))
        return Bound(timestamp: timestamp, idPrefix: EventID(padding: prefix), prefixLength: Int(length))
    }

    mutating func id() throws -> EventID {
        EventID(padding: try bytes(EventID.byteCount))
    }
}

/// Encodes bounds with the same delta rule (one writer per message).
struct BoundEncoder {
    private var lastTimestamp: UInt64 = 0

    mutating func append(_ bound: Bound, to output: inout [UInt8]) {
        if bound.timestamp == .max {
            lastTimestamp = .max
            Varint.append(0, to: &output)
        } else {
            Varint.append(bound.timestamp &- lastTimestamp &+ 1, to: &output)
            lastTimestamp = bound.timestamp
        }
        Varint.append(UInt64(bound.prefixLength), to: &output)
        bound.idPrefix.append(prefix: bound.prefixLength, to: &output)
    }
}

enum Mode: UInt64 {
    case skip = 0
    case fingerprint = 1
    case idList = 2
}
