import Foundation
import SwiftProtobuf
import WharfTestSupport

/// Request messages a hostile client could send, generated from a method's input type in the descriptor set:
/// every field with extreme values, repeated fields thousands long, a record `Struct` 10,000 deep and
/// 100,000 wide, unknown enum numbers, invalid UTF-8; random bytes and truncated valid messages (fixed seeds).
struct HostileMessages {
    typealias FieldType = Google_Protobuf_FieldDescriptorProto.TypeEnum
    let schema: ProtoSchema

    static let megabyte = 1 << 20

    /// (what it is, the message bytes) for the input type `type`.
    func variants(of type: String, seeds: [[UInt8]], seed: UInt64) -> [(String, [UInt8])] {
        guard let message = schema.messages[type] else { return [] }
        var variants: [(String, [UInt8])] = [("empty message", []), ("every field plausible", plausible(type, depth: 0))]
        for field in message.field {
            for (label, bytes) in hostileFields(field, depth: 0) {
                variants.append(("\(field.name): \(label)", bytes))
            }
        }
        var generator = SeededGenerator(seed: seed)
        for round in 0..<12 {
            let length = Int.random(in: 1...(round < 10 ? 64 : 4096), using: &generator)
            variants.append(("random bytes #\(round)", (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        }
        for (index, valid) in ([plausible(type, depth: 0)] + seeds).enumerated() where valid.count > 1 {
            for cut in Set((0..<6).map { _ in Int.random(in: 1..<valid.count, using: &generator) }).sorted() {
                variants.append(("valid message #\(index) truncated to \(cut) of \(valid.count) bytes", Array(valid.prefix(cut))))
            }
        }
        return variants
    }

    /// Every field set to a small valid value (nested messages to a few levels).
    func plausible(_ type: String, depth: Int) -> [UInt8] {
        guard depth < 4, let message = schema.messages[type] else { return [] }
        return message.field.flatMap { plausibleField($0, depth: depth) }
    }

    private func plausibleField(_ field: Google_Protobuf_FieldDescriptorProto, depth: Int) -> [UInt8] {
        switch field.type {
        case .string: Wire.lengthDelimited(field.number, Array("x".utf8))
        case .bytes: Wire.lengthDelimited(field.number, [UInt8](repeating: 1, count: 32))
        case .message, .group: Wire.lengthDelimited(field.number, plausible(field.typeName, depth: depth + 1))
        case .double, .fixed64, .sfixed64: Wire.fixed64Field(field.number, (1.0).bitPattern)
        case .float, .fixed32, .sfixed32: Wire.fixed32Field(field.number, Float(1).bitPattern)
        default: Wire.varintField(field.number, 1)
        }
    }

    /// The hostile encodings of one field (each a complete message holding only that field).
    private func hostileFields(_ field: Google_Protobuf_FieldDescriptorProto, depth: Int) -> [(String, [UInt8])] {
        let number = field.number
        var out: [(String, [UInt8])] = []
        switch field.type {
        case .string:
            out += [
                ("empty string", Wire.lengthDelimited(number, [])),
                ("1 MiB string", Wire.lengthDelimited(number, [UInt8](repeating: UInt8(ascii: "a"), count: Self.megabyte))),
                ("invalid UTF-8", Wire.lengthDelimited(number, [0xFF, 0xFE, 0xC3])),
                ("NUL and control bytes", Wire.lengthDelimited(number, Array("a\u{0}b\u{1B}[31m\r\n".utf8))),
                ("non-ASCII text", Wire.lengthDelimited(number, Array("ws://ü🚀.example/\u{301}".utf8))),
                ("URL-like text", Wire.lengthDelimited(number, Array("ws://127.0.0.1:1/%00%ZZ?#[::".utf8))),
            ]
        case .bytes:
            out += [
                ("empty bytes", Wire.lengthDelimited(number, [])),
                ("1 MiB bytes", Wire.lengthDelimited(number, [UInt8](repeating: 0xAB, count: Self.megabyte))),
                ("31 bytes", Wire.lengthDelimited(number, [UInt8](repeating: 7, count: 31))),
                ("33 bytes", Wire.lengthDelimited(number, [UInt8](repeating: 7, count: 33))),
            ]
        case .message, .group:
            out.append(("empty message", Wire.lengthDelimited(number, [])))
            if field.typeName == ".google.protobuf.Struct" {
                out.append(("Struct nested 10,000 deep", Wire.lengthDelimited(number, Self.deepStruct(levels: 10_000))))
                out.append(("Struct with 100,000 keys", Wire.lengthDelimited(number, Self.wideStruct(keys: 100_000))))
            } else if depth == 0, let nested = schema.messages[field.typeName] {
                for inner in nested.field {
                    for (label, bytes) in hostileFields(inner, depth: depth + 1) where !label.hasPrefix("5,000") {
                        out.append(("\(inner.name): \(label)", Wire.lengthDelimited(number, bytes)))
                    }
                }
            }
        case .double, .fixed64, .sfixed64:
            out += [
                ("NaN", Wire.fixed64Field(number, Double.nan.bitPattern)), ("infinity", Wire.fixed64Field(number, Double.infinity.bitPattern)),
                ("all ones", Wire.fixed64Field(number, .max)),
            ]
        case .float, .fixed32, .sfixed32:
            out += [("NaN", Wire.fixed32Field(number, Float.nan.bitPattern)), ("all ones", Wire.fixed32Field(number, .max))]
        case .enum:
            out += [
                ("unknown enum 12345", Wire.varintField(number, 12345)), ("enum -1", Wire.varintField(number, .max)),
                ("enum Int32.max", Wire.varintField(number, UInt64(Int32.max))),
            ]
        case .bool:
            out += [("bool 2", Wire.varintField(number, 2))]
        default:
            // Integers: zero, the largest unsigned values, and negative numbers (ten-byte varints).
            out += [
                ("0", Wire.varintField(number, 0)), ("max uint32", Wire.varintField(number, UInt64(UInt32.max))),
                ("max uint64 / -1", Wire.varintField(number, .max)), ("Int64.min", Wire.varintField(number, UInt64(bitPattern: Int64.min))),
                ("Int32.max", Wire.varintField(number, UInt64(Int32.max))),
            ]
        }
        if field.label == .repeated {
            let element = plausibleField(field, depth: depth + 1)
            out.append(("5,000 entries", Array([[UInt8]](repeating: element, count: 5_000).joined())))
            // Distinct values, where the type allows: 300 different strings (e.g. 300 distinct queries).
            if field.type == .message, let nested = schema.messages[field.typeName] {
                let distinct = (0..<300).map { index in
                    Wire.lengthDelimited(
                        number,
                        nested.field.flatMap { inner -> [UInt8] in
                            switch inner.type {
                            case .string: Wire.lengthDelimited(inner.number, Array("value-\(index)".utf8))
                            case .enum: Wire.varintField(inner.number, 1)
                            default: plausibleField(inner, depth: depth + 2)
                            }
                        })
                }
                out.append(("300 distinct entries", Array(distinct.joined())))
            } else if field.type == .string {
                out.append(("300 distinct entries", Array((0..<300).map { Wire.lengthDelimited(number, Array("value-\($0)".utf8)) }.joined())))
            }
        }
        return out
    }

    /// A `google.protobuf.Struct` nesting `levels` Structs through `{"k": {struct_value: …}}`. Built from the
    /// inside out as prefixes, since every level only adds bytes in front of the one it wraps.
    static func deepStruct(levels: Int) -> [UInt8] {
        var prefixes: [[UInt8]] = []
        var length = 0  // of the Struct built so far (the innermost is empty)
        for _ in 0..<levels {
            let valuePrefix = Wire.tag(5, 2) + Wire.varint(UInt64(length))  // Value.struct_value
            let valueLength = valuePrefix.count + length
            let key = Wire.lengthDelimited(1, Array("k".utf8))
            let entryPrefix = key + Wire.tag(2, 2) + Wire.varint(UInt64(valueLength))  // map entry {key, value}
            let entryLength = entryPrefix.count + valueLength
            let structPrefix = Wire.tag(1, 2) + Wire.varint(UInt64(entryLength))  // Struct.fields
            prefixes.append(structPrefix + entryPrefix + valuePrefix)
            length = structPrefix.count + entryLength
        }
        return Array(prefixes.reversed().joined())
    }

    /// A `google.protobuf.Struct` with `keys` entries `"k<i>": <i>`.
    static func wideStruct(keys: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(keys * 24)
        for index in 0..<keys {
            let value = Wire.fixed64Field(2, Double(index).bitPattern)  // Value.number_value
            let entry = Wire.lengthDelimited(1, Array("k\(index)".utf8)) + Wire.lengthDelimited(2, value)
            bytes += Wire.lengthDelimited(1, entry)
        }
        return bytes
    }
}
