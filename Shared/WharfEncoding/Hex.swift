import Foundation

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal, two digits per byte (digests in paths, logs and wire text). Written by hand:
    /// `String(format:)` per byte goes through CoreFoundation and showed up in the blob store's profile.
    public var hexString: String {
        var digits: [UInt8] = []
        digits.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            digits.append(hexDigits[Int(byte >> 4)])
            digits.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: digits, as: UTF8.self)
    }
}

extension Data {
    /// Bytes from hexadecimal text (either case); nil for an odd length or a non-hex character.
    public init?(hexString text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: utf8.count / 2)
        for index in bytes.indices {
            guard let high = Self.hexValue(utf8[2 * index]), let low = Self.hexValue(utf8[2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        self.init(bytes)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
