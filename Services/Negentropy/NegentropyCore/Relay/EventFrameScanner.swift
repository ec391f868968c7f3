/// The relay's fast path for `["EVENT",{…}]`: one pass over the frame's bytes into a `NostrEvent`, for frames
/// shaped as clients write them — the seven NIP-01 fields once each, integers without fraction or exponent,
/// strings with any escape. Anything else (an unknown or repeated key, a float, a surrogate escape out of
/// pair, a trailing element, malformed JSON) gives nil, and the frame goes the general way, which decides
/// what it is and names what is wrong. So when this answers, it answers what `JSONDecoder` would.
///
/// Why: Foundation's decoder was a tenth of the relay's CPU while a client loaded events (and its
/// allocations a good part of the rest); this allocates only the event's own strings.
struct EventFrameScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func event(in text: String) -> NostrEvent? {
        var text = text
        return text.withUTF8 { bytes in
            var scanner = EventFrameScanner(bytes)
            return scanner.frame()
        }
    }

    private mutating func frame() -> NostrEvent? {
        guard take(UInt8(ascii: "[")), let verb = string(), verb == "EVENT", take(UInt8(ascii: ",")),
            let event = object(), take(UInt8(ascii: "]"))
        else { return nil }
        skipWhitespace()
        return position == bytes.count ? event : nil
    }

    private mutating func object() -> NostrEvent? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var id: String?, pubkey: String?, createdAt: Int64?, kind: Int64?, tags: [[String]]?, content: String?, sig: String?
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "id" where id == nil: id = string()
            case "pubkey" where pubkey == nil: pubkey = string()
            case "created_at" where createdAt == nil: createdAt = integer()
            case "kind" where kind == nil: kind = integer()
            case "tags" where tags == nil: tags = tagList()
            case "content" where content == nil: content = string()
            case "sig" where sig == nil: sig = string()
            default: return nil
            }
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")), let id, let pubkey, let createdAt, let kind, let kindValue = Int(exactly: kind), let tags,
            let content, let sig
        else { return nil }
        return NostrEvent(id: id, pubkey: pubkey, created_at: createdAt, kind: kindValue, tags: tags, content: content, sig: sig)
    }

    private mutating func tagList() -> [[String]]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var tags: [[String]] = []
        if take(UInt8(ascii: "]")) { return tags }
        repeat {
            guard take(UInt8(ascii: "[")) else { return nil }
            var tag: [String] = []
            if !take(UInt8(ascii: "]")) {
                repeat {
                    guard let value = string() else { return nil }
                    tag.append(value)
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "]")) else { return nil }
            }
            tags.append(tag)
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? tags : nil
    }

    /// An integer as JSON writes it (no leading zeros, no fraction, no exponent) that fits 64 bits.
    private mutating func integer() -> Int64? {
        skipWhitespace()
        let negative = peek() == UInt8(ascii: "-")
        if negative { position += 1 }
        guard let first = peek(), (0x30...0x39).contains(first) else { return nil }
        var value: Int64 = 0
        var digits = 0
        while let byte = peek(), (0x30...0x39).contains(byte) {
            let digit = Int64(byte - 0x30)
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowA, !overflowB else { return nil }
            value = next
            digits += 1
            position += 1
        }
        if first == 0x30, digits > 1 { return nil }  // a leading zero is not JSON
        if negative, value == 0 { return nil }  // "-0": left to the general path
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return nil }
        return value
    }

    /// A JSON string, its escapes decoded; nil for a control character, a bad escape or a lone surrogate.
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = position
        // Most strings have no escape: their bytes are the string.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                defer { position += 1 }
                return String(validating: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            position += 1
        }
        var decoded = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = peek() else { return nil }
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escaped)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0c)
                case UInt8(ascii: "n"): decoded.append(0x0a)
                case UInt8(ascii: "r"): decoded.append(0x0d)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    decoded.append(contentsOf: String(Character(scalar)).utf8)
                default: return nil
                }
            case 0..<0x20: return nil
            default: decoded.append(byte)
            }
        }
        return nil
    }

    /// The scalar of `XXXX` after `\u` (a surrogate pair when it is one's first half).
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let unit = hexQuad() else { return nil }
        switch unit {
        case 0xD800...0xDBFF:
            guard take(exactly: UInt8(ascii: "\\")), take(exactly: UInt8(ascii: "u")), let low = hexQuad(), (0xDC00...0xDFFF).contains(low)
            else { return nil }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
        case 0xDC00...0xDFFF: return nil
        default: return Unicode.Scalar(unit)
        }
    }

    private mutating func hexQuad() -> UInt32? {
        guard bytes.count - position >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            case 0x41...0x46: digit = byte - 0x41 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { position += 1 }
    }

    /// Skips whitespace, then takes `byte` if it is next.
    private mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        return take(exactly: byte)
    }

    private mutating func take(exactly byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }
}
