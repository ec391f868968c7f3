import Foundation
import RecordIdentity
import SwiftProtobuf
import WharfProto
import WharfRuntime

/// A pushed record checked and reduced to what the store keeps: its CID, the canonical JSON (what is
/// stored and hashed), its manifest annotations and the two RecordMeta strings.
public struct PreparedRecord: Sendable, Equatable {
    /// Upstream's receive limit (grpc-go's default 4 MiB), applied to the serialized Record.
    public static let maximumSize = 4 * 1024 * 1024
    /// Seed 000's "max metadata size: 100KB": the UTF-8 bytes of every key and value of `annotations`.
    public static let maximumAnnotationBytes = 100 * 1024
    static let requiredStrings = ["name", "version", "schema_version"]

    public var cid: String
    public var canonicalJSON: [UInt8]
    public var annotations: RecordAnnotations
    public var schemaVersion: String
    public var createdAt: String

    /// The record's manifest in the store's OCI registry.
    public var manifest: OCIManifest {
        OCIManifest(cid: cid, layerSize: canonicalJSON.count, annotations: annotations.manifest)
    }

    public init(cid: String, canonicalJSON: [UInt8], annotations: RecordAnnotations, schemaVersion: String, createdAt: String) {
        self.cid = cid
        self.canonicalJSON = canonicalJSON
        self.annotations = annotations
        self.schemaVersion = schemaVersion
        self.createdAt = createdAt
    }

    /// Validates `record` as the Wharf decisions say (spec/agntcy-dir.md) and computes its CID.
    /// - Parameter receiveLimit: the gRPC server's message limit. Up to `maximumSize` it already refused
    ///   larger records with RESOURCE_EXHAUSTED, so the record is not serialized again to measure it; an
    ///   operator who raises `WHARF_GRPC_MAX_MESSAGE_BYTES` still gets the 4 MiB record limit.
    public init(_ record: Agntcy_Dir_Core_V1_Record, receiveLimit: Int = .max) throws(StoreError) {
        guard record.hasData else { throw .noData }
        if receiveLimit > Self.maximumSize {
            let size = (try? record.serializedBytes() as [UInt8])?.count ?? 0
            guard size <= Self.maximumSize else { throw .recordTooLarge(size: size) }
        }
        let fields = record.data.fields
        var problems: [String] = []
        for name in Self.requiredStrings {
            guard case .stringValue(let text)? = fields[name]?.kind, !text.isEmpty else {
                problems.append("\(name) must be a non-empty string")
                continue
            }
        }
        guard problems.isEmpty else { throw .invalidRecord(problems.joined(separator: "; ")) }
        if let annotations = fields["annotations"] {
            let bytes = try Self.annotationBytes(annotations)
            guard bytes <= Self.maximumAnnotationBytes else { throw .annotationsTooLarge(bytes: bytes) }
        }
        let canonical: [UInt8]
        do {
            canonical = try CanonicalJSON.encode(record.data)
        } catch {
            throw .invalidRecord(error.description)
        }
        cid = RecordCID.of(canonicalJSON: canonical)
        canonicalJSON = canonical
        annotations = RecordAnnotations(cid: cid, fields: OASFRecordFields(record.data))
        if case .stringValue(let text)? = fields["schema_version"]?.kind { schemaVersion = text } else { schemaVersion = "v0.3.1" }
        if case .stringValue(let text)? = fields["created_at"]?.kind { createdAt = text } else { createdAt = "" }
        // These are stored as PostgreSQL text (the JSON itself is bytes, with NUL escaped).
        let texts = [schemaVersion, createdAt] + Array(annotations.manifest.keys) + Array(annotations.manifest.values)
        guard PostgresText.canStoreAll(texts) else {
            throw .invalidRecord(
                "a field the store indexes (name, version, schema_version, created_at, skills, locators, annotations, …) contains a NUL character (U+0000)"
            )
        }
    }

    /// Total UTF-8 bytes of the annotation keys and values (a non-string value counts as its JSON text).
    private static func annotationBytes(_ value: Google_Protobuf_Value) throws(StoreError) -> Int {
        switch value.kind {
        case .structValue(let object):
            var total = 0
            for (key, value) in object.fields {
                total += key.utf8.count
                if case .stringValue(let text) = value.kind {
                    total += text.utf8.count
                } else {
                    do {
                        total += try CanonicalJSON.encode(value).count
                    } catch {
                        throw .invalidRecord(error.description)
                    }
                }
            }
            return total
        case .nullValue, nil:
            return 0
        default:
            throw .invalidRecord("annotations must be an object of strings")
        }
    }
}
