import Crypto
import Foundation

/// Upstream's record CID (spec/agntcy-dir.md §3): CIDv1, multicodec 0x01, sha2-256 multihash of the
/// canonical JSON, multibase base32 lower-case without padding ("b" prefix). Always 59 characters
/// starting with "baeare".
public enum RecordCID {
    /// CIDv1, multicodec 1 (what upstream passes to `cid.NewCidV1`), sha2-256, 32 bytes.
    static let prefix: [UInt8] = [0x01, 0x01, 0x12, 0x20]

    public static func of(canonicalJSON bytes: some DataProtocol) -> String {
        string(digest: Array(SHA256.hash(data: bytes)))
    }

    public static func string(digest: [UInt8]) -> String {
        "b" + Base32.encodeLowercase(prefix + digest)
    }

    /// The sha2-256 digest inside a CID of this form (any multicodec, as upstream's `ConvertCIDToDigest`
    /// does not check it), or nil for anything else.
    public static func digest(of cid: String) -> [UInt8]? {
        guard cid.first == "b", let bytes = Base32.decodeLowercase(cid.dropFirst()), bytes.count == 36,
            bytes[0] == 0x01, bytes[2] == 0x12, bytes[3] == 0x20
        else { return nil }
        return Array(bytes.suffix(32))
    }
}

/// RFC 4648 base32, lower-case alphabet, no padding (multibase "b").
enum Base32 {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encodeLowercase(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int(buffer >> UInt32(bits - 5) & 0x1F)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int(buffer << UInt32(5 - bits) & 0x1F)]) }
        return String(decoding: output, as: UTF8.self)
    }

    static func decodeLowercase(_ text: Substring) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text.utf8 {
            let value: UInt8
            switch character {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = character - UInt8(ascii: "a")
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = character - UInt8(ascii: "2") + 26
            default: return nil
            }
            buffer = (buffer << 5 | UInt32(value)) & 0xFFFF
            bits += 5
            if bits >= 8 {
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits - 8)))
                bits -= 8
            }
        }
        return output
    }
}
