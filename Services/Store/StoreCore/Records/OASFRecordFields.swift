import SwiftProtobuf

/// The fields of an OASF record that the store reads (annotations, validation), decoded the way upstream's
/// oasf-sdk decoder sees them: only `schema_version` "v0.7.0" (OASF 0.7.0 "record") and "v0.3.1" (OASF 0.3.1
/// "agent") decode; a known field of the wrong JSON type fails the decode (Go's protojson would), unknown
/// fields are ignored.
struct OASFRecordFields: Equatable {
    enum Version: String { case v031 = "v0.3.1", v070 = "v0.7.0" }

    var version: Version
    var name = ""
    var recordVersion = ""
    var description = ""
    var schemaVersion = ""
    var createdAt = ""
    var authors: [String] = []
    /// v0.7.0: `skills[].name`; v0.3.1: `category_name/class_name`, or the category alone.
    var skillNames: [String] = []
    var locatorTypes: [String] = []
    /// v0.7.0: module names; v0.3.1: extension names (verbatim, prefix included).
    var extensionNames: [String] = []
    /// A `signature` object is present (even `{}`).
    var signed = false
    var signatureAlgorithm = ""
    var signedAt = ""
    var previousCID = ""
    var annotations: [String: String] = [:]

    struct DecodeFailure: Error {}

    /// nil when the record is not a decodable OASF version (it still stores, with minimal annotations).
    init?(_ data: Google_Protobuf_Struct) {
        guard case .stringValue(let text)? = data.fields["schema_version"]?.kind, let version = Version(rawValue: text) else {
            return nil
        }
        do {
            try self.init(version: version, data: data)
        } catch {
            return nil
        }
    }

    private init(version: Version, data: Google_Protobuf_Struct) throws {
        self.version = version
        let fields = data.fields
        name = try Self.string(fields["name"])
        recordVersion = try Self.string(fields["version"])
        description = try Self.string(fields["description"])
        schemaVersion = try Self.string(fields["schema_version"])
        createdAt = try Self.string(fields["created_at"])
        authors = try Self.list(fields["authors"]).map { try Self.string($0) }
        skillNames = try Self.list(fields["skills"]).map { skill in
            let object = try Self.object(skill)
            switch version {
            case .v070:
                return try Self.string(object["name"])
            case .v031:
                let category = try Self.string(object["category_name"])
                let kind = try Self.string(object["class_name"])
                return kind.isEmpty ? category : category + "/" + kind
            }
        }
        locatorTypes = try Self.list(fields["locators"]).map { try Self.string(Self.object($0)["type"]) }
        let extensionsField = version == .v070 ? "modules" : "extensions"
        extensionNames = try Self.list(fields[extensionsField]).map { try Self.string(Self.object($0)["name"]) }
        if let signature = fields["signature"], signature.kind != .nullValue(.nullValue) {
            let object = try Self.object(signature)
            signed = true
            signatureAlgorithm = try Self.string(object["algorithm"])
            signedAt = try Self.string(object["signed_at"])
        }
        previousCID = try Self.string(fields["previous_record_cid"])
        if let annotations = fields["annotations"], annotations.kind != .nullValue(.nullValue) {
            for (key, value) in try Self.object(annotations) { self.annotations[key] = try Self.string(value) }
        }
    }

    // JSON null decodes to the zero value in Go, as an absent field does.
    private static func string(_ value: Google_Protobuf_Value?) throws -> String {
        switch value?.kind {
        case nil, .nullValue?: return ""
        case .stringValue(let text)?: return text
        default: throw DecodeFailure()
        }
    }

    private static func list(_ value: Google_Protobuf_Value?) throws -> [Google_Protobuf_Value] {
        switch value?.kind {
        case nil, .nullValue?: return []
        case .listValue(let list)?: return list.values
        default: throw DecodeFailure()
        }
    }

    private static func object(_ value: Google_Protobuf_Value?) throws -> [String: Google_Protobuf_Value] {
        switch value?.kind {
        case nil, .nullValue?: return [:]
        case .structValue(let object)?: return object.fields
        default: throw DecodeFailure()
        }
    }
}
