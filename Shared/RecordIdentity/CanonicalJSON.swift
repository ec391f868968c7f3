import SwiftProtobuf

/// The JSON text upstream hashes for a record CID: what Go's `encoding/json.Marshal` produces after
/// `json.Unmarshal` into `any` (spec/agntcy-dir.md §3). Keys sorted by their UTF-8 bytes, no whitespace,
/// Go's string escaping (HTML characters, U+2028/2029, control characters) and Go's float64 formatting.
/// Foundation's JSONSerialization differs in all three, hence this writer.
public enum CanonicalJSON {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// NaN or ±infinity (JSON cannot carry them; protojson refuses them upstream).
        case nonFiniteNumber(path: String)
        /// A `Value` with no kind set.
        case valueWithoutKind(path: String)

        public var description: String {
            switch self {
            case .nonFiniteNumber(let path): "\(path) is not a finite number"
            case .valueWithoutKind(let path): "\(path) has no value"
            }
        }
    }

    public static func encode(_ object: Google_Protobuf_Struct) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(1024)
        try write(object, path: "data", into: &output)
        return output
    }

    public static func encode(_ value: Google_Protobuf_Value) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        try write(value, path: "data", into: &output)
        return output
    }

    private static func write(_ object: Google_Protobuf_Struct, path: String, into output: inout [UInt8]) throws(Failure) {
        output.append(UInt8(ascii: "{"))
        // Go sorts map keys as strings, which compares their bytes.
        let keys = object.fields.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for (index, key) in keys.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            writeString(key, into: &output)
            output.append(UInt8(ascii: ":"))
            // The key comes from `keys`, so the lookup cannot miss.
            try write(object.fields[key] ?? Google_Protobuf_Value(), path: path + "." + key, into: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    private static func write(_ value: Google_Protobuf_Value, path: String, into output: inout [UInt8]) throws(Failure) {
        switch value.kind {
        case .nullValue:
            output.append(contentsOf: "null".utf8)
        case .boolValue(let flag):
            output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .numberValue(let number):
            guard number.isFinite else { throw .nonFiniteNumber(path: path) }
            output.append(contentsOf: GoFloat.format(number).utf8)
        case .stringValue(let text):
            writeString(text, into: &output)
        case .structValue(let object):
            try write(object, path: path, into: &output)
        case .listValue(let list):
            output.append(UInt8(ascii: "["))
            for (index, element) in list.values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try write(element, path: "\(path)[\(index)]", into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case nil:
            throw .valueWithoutKind(path: path)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Go's `encodeState.string` with HTML escaping on (what `json.Marshal` uses).
    public static func writeString(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: output.append(contentsOf: #"\""#.utf8)
            case 0x5C: output.append(contentsOf: #"\\"#.utf8)
            case 0x0A: output.append(contentsOf: #"\n"#.utf8)
            case 0x0D: output.append(contentsOf: #"\r"#.utf8)
            case 0x09: output.append(contentsOf: #"\t"#.utf8)
            case 0x08: output.append(contentsOf: #"\b"#.utf8)  // Go ≥ 1.22; the server is built with 1.24
            case 0x0C: output.append(contentsOf: #"\f"#.utf8)
            case 0x00..<0x20, 0x3C, 0x3E, 0x26:  // other controls, and < > & (HTML-safe output)
                let byte = UInt8(scalar.value)
                output.append(contentsOf: #"\u00"#.utf8)
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            case 0x2028: output.append(contentsOf: #"\u2028"#.utf8)
            case 0x2029: output.append(contentsOf: #"\u2029"#.utf8)
            default: output.append(contentsOf: String(scalar).utf8)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
