import Foundation
import SwiftProtobuf

/// Every leaf field of a message type, however deep, found by walking the descriptor set: a field added to
/// any message a server accepts is covered without a new row. A message type appears at most once on one
/// path (recursive types such as `google.protobuf.Struct` are cut there and sent as an empty message).
struct FieldPaths {
    typealias Field = Google_Protobuf_FieldDescriptorProto
    let schema: ProtoSchema

    /// One leaf: the fields from the top message down to it.
    struct Path: CustomStringConvertible {
        var fields: [Field]
        /// The leaf's type is a message cut because it already appears above it on the path.
        var cut: Bool
        var description: String { fields.map(\.name).joined(separator: ".") }
    }

    /// Every leaf path of `type`, and every message type visited on the way (the coverage of the walk).
    func leaves(of type: String) -> (paths: [Path], visited: Set<String>) {
        var paths: [Path] = []
        var visited: Set<String> = []
        func walk(_ type: String, prefix: [Field], onPath: Set<String>) {
            guard let message = schema.messages[type] else { return }
            visited.insert(type)
            for field in message.field {
                let path = prefix + [field]
                guard field.type == .message || field.type == .group else {
                    paths.append(Path(fields: path, cut: false))
                    continue
                }
                if onPath.contains(field.typeName) || schema.messages[field.typeName] == nil {
                    paths.append(Path(fields: path, cut: true))
                    continue
                }
                walk(field.typeName, prefix: path, onPath: onPath.union([field.typeName]))
            }
        }
        walk(type, prefix: [], onPath: [type])
        return (paths, visited)
    }

    /// Every message type reachable from `type` through its fields.
    func reachable(from type: String) -> Set<String> {
        var seen: Set<String> = []
        var pending = [type]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let message = schema.messages[next] else { continue }
            pending += message.field.filter { $0.type == .message || $0.type == .group }.map(\.typeName)
        }
        return seen.filter { schema.messages[$0] != nil }
    }

    /// The extreme encodings of a leaf field (the field's tag and value, as it would appear in its message).
    static func extremes(of field: Field) -> [(String, [UInt8])] {
        let number = field.number
        func varints(_ values: [(String, UInt64)]) -> [(String, [UInt8])] { values.map { ($0.0, Wire.varintField(number, $0.1)) } }
        let signed32: [(String, UInt64)] = [
            ("0", 0), ("-1", .max), ("Int32.min", UInt64(bitPattern: Int64(Int32.min))), ("Int32.max", UInt64(Int32.max)),
        ]
        switch field.type {
        case .int32, .enum:
            return varints(signed32)
        case .int64:
            return varints([("0", 0), ("-1", .max), ("Int64.min", UInt64(bitPattern: .min)), ("Int64.max", UInt64(Int64.max))])
        case .uint32:
            return varints([("0", 0), ("UInt32.max", UInt64(UInt32.max)), ("-1 as a 10-byte varint", .max)])
        case .uint64:
            return varints([("0", 0), ("UInt64.max", .max), ("Int64.max", UInt64(Int64.max))])
        case .sint32:
            return varints([("0", 0), ("-1", 1), ("Int32.min", UInt64(UInt32.max)), ("Int32.max", UInt64(UInt32.max) - 1)])
        case .sint64:
            return varints([("0", 0), ("-1", 1), ("Int64.min", .max), ("Int64.max", .max - 1)])
        case .bool:
            return varints([("false", 0), ("true", 1)])
        case .fixed32, .sfixed32:
            return [("0", 0), ("all ones (-1)", .max), ("Int32.min", 0x8000_0000), ("Int32.max", 0x7FFF_FFFF)].map {
                ($0.0, Wire.fixed32Field(number, $0.1))
            }
        case .fixed64, .sfixed64:
            return [("0", 0), ("all ones (-1)", .max), ("Int64.min", 0x8000_0000_0000_0000), ("Int64.max", 0x7FFF_FFFF_FFFF_FFFF)]
                .map { ($0.0, Wire.fixed64Field(number, $0.1)) }
        case .double:
            return [("0", 0.0), ("-1", -1.0), ("NaN", .nan), ("-infinity", -.infinity), ("greatest", .greatestFiniteMagnitude)]
                .map { ($0.0, Wire.fixed64Field(number, $0.1.bitPattern)) }
        case .float:
            return [("0", Float(0)), ("-1", -1), ("NaN", .nan), ("infinity", .infinity), ("greatest", .greatestFiniteMagnitude)]
                .map { ($0.0, Wire.fixed32Field(number, $0.1.bitPattern)) }
        case .string:
            return [
                ("empty", Wire.lengthDelimited(number, [])),
                ("1 MiB", Wire.lengthDelimited(number, [UInt8](repeating: UInt8(ascii: "a"), count: HostileMessages.megabyte))),
                ("invalid UTF-8", Wire.lengthDelimited(number, [0x61, 0xFF, 0xFE, 0xC3])),
            ]
        case .bytes:
            return [
                ("empty", Wire.lengthDelimited(number, [])),
                ("1 MiB", Wire.lengthDelimited(number, [UInt8](repeating: 0xAB, count: HostileMessages.megabyte))),
            ]
        case .message, .group:
            return [("empty message", Wire.lengthDelimited(number, []))]
        default:
            return []
        }
    }
}

/// Edits protobuf wire bytes: sets the field at a path to an encoding, keeping everything else of the
/// message as it was (so a valid seed stays valid but for the one field).
enum WireEdit {
    /// One field of a message as it appears on the wire.
    struct Entry {
        var number: Int32
        var bytes: [UInt8]  // tag and value
        var payload: ArraySlice<UInt8>?  // of a length-delimited field
    }

    /// The fields of `bytes` in order (nil when the bytes are not a well-formed message).
    static func entries(_ bytes: [UInt8]) -> [Entry]? {
        var entries: [Entry] = []
        var position = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < bytes.count, shift < 64 {
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while position < bytes.count {
            let start = position
            guard let key = varint(), key >> 3 > 0, key >> 3 <= UInt64(Int32.max) else { return nil }
            var payload: ArraySlice<UInt8>?
            switch key & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1: position += 8
            case 5: position += 4
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - position) else { return nil }
                payload = bytes[position..<(position + Int(length))]
                position += Int(length)
            default: return nil
            }
            guard position <= bytes.count else { return nil }
            entries.append(Entry(number: Int32(key >> 3), bytes: Array(bytes[start..<position]), payload: payload))
        }
        return entries
    }

    /// `message` with the field at `path` (field numbers, outermost first) replaced by `leaf` (a complete
    /// encoding of the last field). The message of an intermediate field is the last one present (or empty),
    /// edited in turn; other fields keep their places. A repeated field keeps its earlier entries.
    static func set(_ path: [Int32], to leaf: [UInt8], in message: [UInt8]) -> [UInt8] {
        guard let first = path.first else { return message }
        let entries = entries(message) ?? []
        if path.count == 1 {
            return entries.filter { $0.number != first }.flatMap(\.bytes) + leaf
        }
        let inner = entries.last(where: { $0.number == first })?.payload.map(Array.init) ?? []
        let edited = set(Array(path.dropFirst()), to: leaf, in: inner)
        return entries.filter { $0.number != first }.flatMap(\.bytes) + Wire.lengthDelimited(first, edited)
    }
}
