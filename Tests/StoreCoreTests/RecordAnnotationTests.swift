import Foundation
import StoreCore
import SwiftProtobuf
import Testing
import WharfProto

func vectorRecord(_ sourceContains: String) throws -> (record: Agntcy_Dir_Core_V1_Record, vector: CIDVectors.Record) {
    let vectors = try CIDVectors.load()
    guard let vector = vectors.record_vectors.first(where: { $0.source.contains(sourceContains) }) else {
        throw VectorMissing(name: sourceContains)
    }
    let data = try vector.record.asStruct()
    return (.with { $0.data = data }, vector)
}

struct VectorMissing: Error { var name: String }

@Suite("RecordMeta as upstream's Lookup derives it")
struct RecordAnnotationTests {
    @Test("the OASF 0.7.0 example record of spec §10 gives the documented annotations")
    func example070() throws {
        let (record, vector) = try vectorRecord("section 10")
        let prepared = try PreparedRecord(record)
        #expect(prepared.cid == vector.cid)
        #expect(prepared.schemaVersion == "v0.7.0")
        #expect(prepared.createdAt == "2025-09-19T10:00:00Z")
        #expect(
            prepared.annotations.lookupAnnotations == [
                "name": "example.org/acme/summarizer", "version": "v1.0.0", "description": "Summarizes documents.",
                "oasf-version": "v0.7.0", "authors": "ACME <dev@acme.example>", "authors-count": "1",
                "skills": "natural_language_processing/natural_language_generation/text_completion", "skills-count": "1",
                "locator-types": "docker_image", "locator-types-count": "1", "signed": "false", "team": "docs",
            ])
        #expect(prepared.annotations.manifest["org.agntcy.dir/type"] == "record")
        #expect(prepared.annotations.manifest["org.agntcy.dir/cid"] == vector.cid)
        #expect(prepared.annotations.manifest["org.agntcy.dir/custom.team"] == "docs")
    }

    @Test("an OASF 0.3.1 agent: category/class skills, extension names, an empty signature object counts as signed")
    func agent031() throws {
        let (record, _) = try vectorRecord("record_v031")
        let annotations = try PreparedRecord(record).annotations.lookupAnnotations
        #expect(annotations["oasf-version"] == "v0.3.1")
        #expect(annotations["skills"] == "Natural Language Processing/Text Completion,Natural Language Processing/Problem Solving")
        #expect(annotations["skills-count"] == "2")
        #expect(
            annotations["extension-names"]
                == "license,schema.oasf.agntcy.org/features/runtime/framework,schema.oasf.agntcy.org/features/runtime/language")
        #expect(annotations["extension-names-count"] == "3")
        #expect(annotations["locator-types"] == "docker-image")
        #expect(annotations["signed"] == "true")
        #expect(annotations["signature-algorithm"] == nil)  // `signature: {}` has none
        #expect(annotations["key"] == "value")
    }

    @Test("other schema versions store with the minimal annotations and keep their own schema_version")
    func otherVersions() throws {
        for name in ["record_070.json", "record_080_v4", "record_100"] {
            let (record, vector) = try vectorRecord(name)
            let prepared = try PreparedRecord(record)
            #expect(prepared.cid == vector.cid)
            #expect(prepared.annotations.manifest == ["org.agntcy.dir/type": "record", "org.agntcy.dir/cid": vector.cid])
            #expect(prepared.annotations.lookupAnnotations.isEmpty)
            #expect(prepared.schemaVersion == record.data.fields["schema_version"]?.stringValue)
        }
    }

    @Test("an author containing a comma inflates authors-count, as upstream; custom keys overwrite plain ones")
    func countsAndOverrides() throws {
        var (record, _) = try vectorRecord("section 10")
        record.data.fields["authors"] = Google_Protobuf_Value(
            listValue: .init(values: ["Doe, Jane", "Roe"].map { Google_Protobuf_Value(stringValue: $0) }))
        record.data.fields["annotations"] = Google_Protobuf_Value(structValue: .init(fields: ["name": Google_Protobuf_Value(stringValue: "custom")]))
        let annotations = try PreparedRecord(record).annotations.lookupAnnotations
        #expect(annotations["authors"] == "Doe, Jane,Roe")
        #expect(annotations["authors-count"] == "3")
        #expect(annotations["name"] == "custom")
    }

    @Test("validation names what is wrong")
    func validation() throws {
        #expect(throws: StoreError.noData) { try PreparedRecord(Agntcy_Dir_Core_V1_Record()) }
        var (record, _) = try vectorRecord("section 10")
        record.data.fields["name"] = Google_Protobuf_Value(numberValue: 3)
        record.data.fields["version"] = nil
        #expect(throws: StoreError.invalidRecord("name must be a non-empty string; version must be a non-empty string")) {
            try PreparedRecord(record)
        }
        var big = try vectorRecord("section 10").record
        big.data.fields["annotations"] = Google_Protobuf_Value(
            structValue: .init(fields: ["k": Google_Protobuf_Value(stringValue: String(repeating: "x", count: 102_400))]))
        #expect(throws: StoreError.annotationsTooLarge(bytes: 102_401)) { try PreparedRecord(big) }
        big.data.fields["annotations"] = Google_Protobuf_Value(
            structValue: .init(fields: ["k": Google_Protobuf_Value(stringValue: String(repeating: "x", count: 102_399))]))
        #expect(throws: Never.self) { try PreparedRecord(big) }
        // Beyond 4 MiB: refused when the transport would let it through, not measured again when it would not.
        var huge = try vectorRecord("section 10").record
        huge.data.fields["blob"] = Google_Protobuf_Value(stringValue: String(repeating: "a", count: 4 << 20))
        #expect(throws: StoreError.self) { try PreparedRecord(huge, receiveLimit: 16 << 20) }
        #expect(throws: Never.self) { try PreparedRecord(huge, receiveLimit: PreparedRecord.maximumSize) }
    }
}
