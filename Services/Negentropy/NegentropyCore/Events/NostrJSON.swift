/// JSON text as Nostr hashes and relays write it: NIP-01's escapes (`\n \" \\ \r \t \b \f`), other control
/// characters as `\u00xx` in lower-case hex (as rust-nostr), everything else verbatim (no `\/`, no `\u` for
/// non-ASCII). An event id is the SHA-256 of exactly these bytes, so this writer is the id's definition.
enum NostrJSON {
    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case 0x0a: output += [0x5c, UInt8(ascii: "n")]
            case 0x22: output += [0x5c, 0x22]
            case 0x5c: output += [0x5c, 0x5c]
            case 0x0d: output += [0x5c, UInt8(ascii: "r")]
            case 0x09: output += [0x5c, UInt8(ascii: "t")]
            case 0x08: output += [0x5c, UInt8(ascii: "b")]
            case 0x0c: output += [0x5c, UInt8(ascii: "f")]
            case 0..<0x20:
                output += Array("\\u00".utf8)
                output.append(hexDigit(byte >> 4))
                output.append(hexDigit(byte & 0x0f))
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    static func appendStringArray(_ strings: [String], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, string) in strings.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            appendString(string, to: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    static func appendTags(_ tags: [[String]], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, tag) in tags.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            appendStringArray(tag, to: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    static func appendNumber(_ number: some BinaryInteger, to output: inout [UInt8]) {
        output += Array(String(number).utf8)
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
