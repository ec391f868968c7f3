import Crypto
import Foundation
import RecordIdentity
import StoreCore
import SwiftProtobuf
import Testing
import WharfEncoding
import WharfRuntime

@Suite("Record CIDs and canonical JSON against the upstream vectors")
struct CanonicalJSONTests {
    @Test("every record vector: canonical JSON, sha256 and CID exactly as upstream")
    func recordVectors() throws {
        let vectors = try CIDVectors.load()
        #expect(vectors.record_vectors.count == 6)
        for vector in vectors.record_vectors {
            let canonical = try CanonicalJSON.encode(try vector.record.asStruct())
            #expect(String(decoding: canonical, as: UTF8.self) == vector.canonical_json, "\(vector.source)")
            #expect(Array(SHA256.hash(data: canonical)).hexString == vector.sha256_hex, "\(vector.source)")
            #expect(RecordCID.of(canonicalJSON: canonical) == vector.cid, "\(vector.source)")
            // Canonical JSON is a fixed point: parsing it back and re-encoding changes nothing.
            let reparsed = try Google_Protobuf_Struct(jsonUTF8Data: Data(canonical))
            #expect(try CanonicalJSON.encode(reparsed) == canonical)
        }
    }

    @Test("the upstream digest vector and the empty object")
    func digestVectors() throws {
        let vectors = try CIDVectors.load()
        for vector in vectors.digest_vectors {
            let bytes = Array(vector.data_utf8.utf8)
            #expect(Array(SHA256.hash(data: bytes)).hexString == vector.sha256_hex)
            #expect(RecordCID.of(canonicalJSON: bytes) == vector.cid)
            #expect(RecordCID.digest(of: vector.cid)?.hexString == vector.sha256_hex)
        }
        let empty = try CanonicalJSON.encode(Google_Protobuf_Struct())
        #expect(String(decoding: empty, as: UTF8.self) == vectors.empty_object.canonical_json)
        #expect(RecordCID.of(canonicalJSON: empty) == vectors.empty_object.cid)
    }

    @Test("number formats, key order and escaping edge cases match Go's encoding/json")
    func edgeCases() throws {
        let vectors = try CIDVectors.load()
        #expect(vectors.canonicalization_edge_cases.count == 3)
        for vector in vectors.canonicalization_edge_cases {
            let object = try Google_Protobuf_Struct(jsonString: vector.input_json)
            #expect(String(decoding: try CanonicalJSON.encode(object), as: UTF8.self) == vector.canonical, "\(vector.input_json)")
        }
    }

    @Test(
        "numbers around the exponent-form boundaries",
        arguments: [
            (1e21, "1e+21"), (9.999999999999999e20, "999999999999999900000"), (1e-6, "0.000001"),
            (9.99e-7, "9.99e-7"), (-2.5, "-2.5"), (123456.789e3, "123456789"), (1.5e300, "1.5e+300"),
            (0.1 + 0.2, "0.30000000000000004"), (-0.0, "-0"), (2e-308, "2e-308"),
        ])
    func numberBoundaries(value: Double, expected: String) throws {
        let encoded = try CanonicalJSON.encode(Google_Protobuf_Value(numberValue: value))
        #expect(String(decoding: encoded, as: UTF8.self) == expected)
    }

    @Test("non-finite numbers are refused with the path to the value")
    func nonFinite() {
        var object = Google_Protobuf_Struct()
        object.fields["a"] = Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [Google_Protobuf_Value(numberValue: .nan)]))
        #expect(throws: CanonicalJSON.Failure.nonFiniteNumber(path: "data.a[0]")) { try CanonicalJSON.encode(object) }
    }

    @Test("CIDs of other shapes are not digests")
    func malformedCIDs() {
        #expect(RecordCID.digest(of: "") == nil)
        #expect(RecordCID.digest(of: "Qmfoo") == nil)
        #expect(RecordCID.digest(of: "baeare!") == nil)
        #expect(RecordCID.digest(of: "baeareig77vqcdozl2wyk6z3cscaj5q5fggi53aoh64fewkdiri3cdauyn") == nil)  // truncated
    }
}
