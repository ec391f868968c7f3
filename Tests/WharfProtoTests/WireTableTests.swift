import Foundation
import SwiftProtobuf
import Testing

/// The compiled descriptors of Shared/Protos, indexed by fully qualified name.
struct CompiledProtos {
    var messages: [String: Google_Protobuf_DescriptorProto] = [:]
    var enums: [String: Google_Protobuf_EnumDescriptorProto] = [:]
    var methods: [String: Google_Protobuf_MethodDescriptorProto] = [:]

    init() throws {
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Fixtures.data("wharf.protoset"))
        for file in set.file {
            for message in file.messageType { add(message, prefix: file.package) }
            for enumeration in file.enumType { enums["\(file.package).\(enumeration.name)"] = enumeration }
            for service in file.service {
                for method in service.method { methods["/\(file.package).\(service.name)/\(method.name)"] = method }
            }
        }
    }

    private mutating func add(_ message: Google_Protobuf_DescriptorProto, prefix: String) {
        let name = "\(prefix).\(message.name)"
        messages[name] = message
        for nested in message.nestedType { add(nested, prefix: name) }
        for enumeration in message.enumType { enums["\(name).\(enumeration.name)"] = enumeration }
    }

    func typeName(of field: Google_Protobuf_FieldDescriptorProto) -> String {
        switch field.type {
        case .message, .enum:
            let name = String(field.typeName.dropFirst())
            if let entry = messages[name], entry.options.mapEntry, entry.field.count == 2 {
                return "map<\(typeName(of: entry.field[0])),\(typeName(of: entry.field[1]))>"
            }
            return name
        case .double: return "double"
        case .float: return "float"
        case .int64: return "int64"
        case .uint64: return "uint64"
        case .int32: return "int32"
        case .uint32: return "uint32"
        case .bool: return "bool"
        case .string: return "string"
        case .bytes: return "bytes"
        case .sint32: return "sint32"
        case .sint64: return "sint64"
        case .fixed32: return "fixed32"
        case .fixed64: return "fixed64"
        case .sfixed32: return "sfixed32"
        case .sfixed64: return "sfixed64"
        default: return "\(field.type)"
        }
    }
}

/// True when a spec type (possibly written relative to its package) names the compiled type.
func typeMatches(expected: String, actual: String) -> Bool {
    if expected == actual || actual.hasSuffix("." + expected) { return true }
    let mapParts = /^map<([\w.]+),([\w.]+)>$/
    if let e = expected.firstMatch(of: mapParts), let a = actual.firstMatch(of: mapParts) {
        return e.1 == a.1 && typeMatches(expected: String(e.2), actual: String(a.2))
    }
    return false
}

let ownPackages = ["agntcy.", "core.v1.", "routing.v1.", "v1sync.", "v1.", "types.", "orlysync.", "tvix.", "snix."]

@Suite("Protos against the spec's wire tables")
struct WireTableTests {
    static func allTables() throws -> [(String, WireTables)] {
        [
            ("wire-agntcy.txt", WireTables.parseTabular(try Fixtures.text("spec/wire-agntcy.txt"), stopAt: "APPENDIX C —")),
            ("wire-backrest.txt", WireTables.parseTabular(try Fixtures.text("spec/wire-backrest.txt"), stopAt: "APPENDIX B —")),
            ("wire-orly.txt", WireTables.parseOrly(try Fixtures.text("spec/wire-orly.txt"))),
            ("wire-tvix.txt (tvix)", WireTables.parseTvix(try Fixtures.text("spec/wire-tvix.txt"), package: "tvix.castore.v1")),
            ("wire-tvix.txt (snix)", WireTables.parseTvix(try Fixtures.text("spec/wire-tvix.txt"), package: "snix.castore.v1")),
        ]
    }

    @Test("the tables were read: every wire file yields the messages it documents")
    func tablesParsed() throws {
        let counts = Dictionary(uniqueKeysWithValues: try Self.allTables().map { ($0.0, $0.1.messages.count) })
        // agntcy: 23 in Part A (4 of them google.protobuf) + 12 more in Part B (Empty is listed again);
        // backrest: the 66-message closure + Config, Auth, User, Multihost(.Peer, .Permission), PrivateKey;
        // orly: 18 in orlysync.negentropy.v1 + 10 in orlysync.common.v1.
        #expect(counts["wire-agntcy.txt"] == 23 + 12)
        #expect(counts["wire-backrest.txt"] == 66 + 7)
        #expect(counts["wire-orly.txt"] == 18 + 10)
        #expect(counts["wire-tvix.txt (tvix)"] == 6)
    }

    @Test("every documented message has exactly the documented fields: number, name, type, label, oneof")
    func fieldsMatch() throws {
        let compiled = try CompiledProtos()
        for (file, tables) in try Self.allTables() {
            Self.checkFields(of: tables.messages, in: file, against: compiled)
        }
    }

    /// Protocol 3's messages (backrest 1.13–1.14): Appendix B lists them in package v1sync; Wharf keeps them in
    /// wharf.backrest.protocol3 (v1sync is the 1.11–1.12 schema), with every field as upstream has it.
    @Test("protocol 3's stream items and SetRemoteClientConfig match Appendix B field for field (in their own package)")
    func protocol3Matches() throws {
        let text = try Fixtures.text("spec/wire-backrest.txt")
        let appendix = try #require(text.range(of: "APPENDIX B —"))
        let tables = WireTables.parseTabular(String(text[appendix.upperBound...]), stopAt: "\u{0}")
        let ported = ["v1sync.SyncStreamItem", "v1sync.SetRemoteClientConfig"]
        func renamed(_ name: String) -> String {
            guard let prefix = ported.first(where: name.hasPrefix) else { return name }
            return "wharf.backrest.protocol3." + name.dropFirst("v1sync.".count)
        }
        var messages: [String: [Int: ExpectedField]] = [:]
        for (name, fields) in tables.messages where ported.contains(where: name.hasPrefix) {
            messages[renamed(name)] = fields.mapValues { field in
                var field = field
                field.type = renamed(field.type)
                return field
            }
        }
        // SyncStreamItem and its 15 nested messages, the request and the response.
        #expect(messages.count == 16 + 2)
        Self.checkFields(of: messages, in: "wire-backrest.txt Appendix B", against: try CompiledProtos())
        let method = try #require(try CompiledProtos().methods["/v1sync.BackrestSyncStateService/SetRemoteClientConfig"])
        #expect(method.inputType == ".wharf.backrest.protocol3.SetRemoteClientConfigRequest")
        #expect(!method.clientStreaming && !method.serverStreaming)
    }

    static func checkFields(of documented: [String: [Int: ExpectedField]], in file: String, against compiled: CompiledProtos) {
        for (messageName, fields) in documented {
            guard let message = compiled.messages[messageName] else {
                Issue.record("\(file): message \(messageName) is not in Shared/Protos")
                continue
            }
            let actualNumbers = Set(message.field.map { Int($0.number) })
            #expect(actualNumbers == Set(fields.keys), "\(file): \(messageName) field numbers")
            for field in message.field {
                guard let expected = fields[Int(field.number)] else { continue }
                let type = compiled.typeName(of: field)
                let isMap = type.hasPrefix("map<")
                let oneof =
                    field.hasOneofIndex && !field.proto3Optional
                    ? message.oneofDecl[Int(field.oneofIndex)].name : nil
                #expect(field.name == expected.name, "\(file): \(messageName) #\(field.number) name")
                #expect(
                    typeMatches(expected: expected.type, actual: type),
                    "\(file): \(messageName) #\(field.number) \(field.name) is \(type), spec says \(expected.type)")
                #expect(
                    (field.label == .repeated && !isMap) == expected.repeated,
                    "\(file): \(messageName) #\(field.number) \(field.name) repeated")
                #expect(
                    field.proto3Optional == expected.optional,
                    "\(file): \(messageName) #\(field.number) \(field.name) optional")
                #expect(oneof == expected.oneof, "\(file): \(messageName) #\(field.number) \(field.name) oneof")
            }
        }
    }

    @Test("every documented enum has exactly the documented values")
    func enumsMatch() throws {
        let compiled = try CompiledProtos()
        var checked = 0
        for (file, tables) in try Self.allTables() {
            for (enumName, values) in tables.enums {
                guard let enumeration = compiled.enums[enumName] else {
                    Issue.record("\(file): enum \(enumName) is not in Shared/Protos")
                    continue
                }
                let actual = Dictionary(uniqueKeysWithValues: enumeration.value.map { ($0.name, Int($0.number)) })
                #expect(actual == values, "\(file): \(enumName)")
                checked += 1
            }
        }
        // agntcy 4 (NullValue, SyncStatus, RecordQueryType, PeerConnectionType) + backrest 10.
        #expect(checked == 4 + 10)
    }

    @Test("methods take and return the documented message types")
    func methodTypes() throws {
        let compiled = try CompiledProtos()
        var checked = 0
        for (file, tables) in try Self.allTables() {
            for (path, types) in tables.methods {
                guard let method = compiled.methods[path] else {
                    Issue.record("\(file): \(path) is not in Shared/Protos")
                    continue
                }
                #expect(typeMatches(expected: types.request, actual: String(method.inputType.dropFirst())), "\(path) request")
                #expect(typeMatches(expected: types.response, actual: String(method.outputType.dropFirst())), "\(path) response")
                checked += 1
            }
        }
        #expect(checked == 11 + 4 + 2 + 15 + 3 + 3)
    }

    @Test("Shared/Protos defines no message or enum the wire tables do not document")
    func nothingExtra() throws {
        let compiled = try CompiledProtos()
        let tables = try Self.allTables()
        let documentedMessages = Set(tables.flatMap { $0.1.messages.keys })
        let documentedEnums = Set(tables.flatMap { $0.1.enums.keys })
        for name in compiled.messages.keys where ownPackages.contains(where: name.hasPrefix) {
            // Map entries are synthesized by protoc from map<K,V> fields.
            if compiled.messages[name]?.options.mapEntry == true { continue }
            #expect(documentedMessages.contains(name), "\(name) is not in any wire table")
        }
        for name in compiled.enums.keys where ownPackages.contains(where: name.hasPrefix) {
            // wire-orly and wire-tvix have no enums; the others list every enum they reach.
            #expect(documentedEnums.contains(name), "enum \(name) is not in any wire table")
        }
    }
}
