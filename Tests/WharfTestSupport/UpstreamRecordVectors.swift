import Foundation
import SwiftProtobuf
import WharfProto

/// The record vectors of `Fixtures/testdata/agntcy_dir_cid_vectors.json` (upstream's records and their CIDs),
/// as records a client pushes: each record's JSON parsed into a `Struct` as upstream's SDKs do.
public enum UpstreamRecordVectors {
    public static func load() throws -> [(record: Agntcy_Dir_Core_V1_Record, cid: String)] {
        try recordVectors().map { vector in
            guard let record = vector["record"], let cid = vector["cid"] as? String else {
                throw TestSupportError("a record vector lacks its record or cid")
            }
            let json = try JSONSerialization.data(withJSONObject: record)
            let parsed = try Google_Protobuf_Struct(jsonUTF8Data: json)
            return (Agntcy_Dir_Core_V1_Record.with { $0.data = parsed }, cid)
        }
    }

    /// Each vector's canonical JSON (the bytes upstream hashes) with its CID.
    public static func canonical() throws -> [(canonicalJSON: Data, cid: String)] {
        try recordVectors().map { vector in
            guard let json = vector["canonical_json"] as? String, let cid = vector["cid"] as? String else {
                throw TestSupportError("a record vector lacks its canonical_json or cid")
            }
            return (Data(json.utf8), cid)
        }
    }

    private static func recordVectors() throws -> [[String: Any]] {
        let data = try Data(contentsOf: ProjectPaths.fixture("testdata/agntcy_dir_cid_vectors.json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let vectors = object["record_vectors"] as? [[String: Any]]
        else {
            throw TestSupportError("agntcy_dir_cid_vectors.json has no record_vectors")
        }
        return vectors
    }
}
