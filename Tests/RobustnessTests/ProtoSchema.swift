import Foundation
import SwiftProtobuf
import WharfTestSupport

/// The compiled descriptor set of Wharf's protos (Tests/Fixtures/wharf.protoset): every service and method
/// (the coverage check compares the table with it) and every message's fields (the hostile generator walks them).
struct ProtoSchema {
    struct Method {
        var path: String
        var input: String
        var clientStreaming: Bool
        var serverStreaming: Bool
    }

    let methods: [String: Method]
    /// Full name with a leading dot (".routing.v1.SearchRequest") → descriptor.
    let messages: [String: Google_Protobuf_DescriptorProto]

    static let shared: ProtoSchema = {
        do {
            return try ProtoSchema(data: Data(contentsOf: ProjectPaths.fixture("wharf.protoset")))
        } catch {
            return ProtoSchema(methods: [:], messages: [:])
        }
    }()

    private init(methods: [String: Method], messages: [String: Google_Protobuf_DescriptorProto]) {
        self.methods = methods
        self.messages = messages
    }

    init(data: Data) throws {
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: data)
        var methods: [String: Method] = [:]
        var messages: [String: Google_Protobuf_DescriptorProto] = [:]
        func collect(_ message: Google_Protobuf_DescriptorProto, prefix: String) {
            let name = "\(prefix).\(message.name)"
            messages[name] = message
            for nested in message.nestedType { collect(nested, prefix: name) }
        }
        for file in set.file {
            let prefix = file.package.isEmpty ? "" : ".\(file.package)"
            for message in file.messageType { collect(message, prefix: prefix) }
            for service in file.service {
                for method in service.method {
                    let path = "/\(file.package).\(service.name)/\(method.name)"
                    methods[path] = Method(
                        path: path, input: method.inputType,
                        clientStreaming: method.clientStreaming, serverStreaming: method.serverStreaming)
                }
            }
        }
        self.methods = methods
        self.messages = messages
    }
}

/// Protobuf wire encoding by hand, so the suite can write values no generated type would (unknown enum
/// numbers, invalid UTF-8, ten-byte negative varints, truncated messages).
enum Wire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    static func tag(_ field: Int32, _ wireType: UInt8) -> [UInt8] { varint(UInt64(field) << 3 | UInt64(wireType)) }

    static func lengthDelimited(_ field: Int32, _ payload: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(payload.count)) + payload
    }

    static func varintField(_ field: Int32, _ value: UInt64) -> [UInt8] { tag(field, 0) + varint(value) }
    static func fixed64Field(_ field: Int32, _ value: UInt64) -> [UInt8] { tag(field, 1) + withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func fixed32Field(_ field: Int32, _ value: UInt32) -> [UInt8] { tag(field, 5) + withUnsafeBytes(of: value.littleEndian, Array.init) }
}
