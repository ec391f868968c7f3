import Crypto
import Foundation
import RecordIdentity
import WharfEncoding
import WharfRuntime

/// The OCI image manifest of one record in the registry's `dir` repository, in upstream's zot layout
/// (spec agntcy-dir.md §4.7): one `application/json` layer holding the canonical JSON, whose digest is the
/// CID's own sha2-256 digest, the record's manifest annotations (§4.3), and the OCI empty config. The bytes
/// depend on the record alone (keys sorted, no whitespace), so a record always has the same manifest digest.
public struct OCIManifest: Sendable {
    public static let mediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let layerMediaType = "application/json"
    /// The OCI 1.1 empty descriptor's blob: `{}`.
    public static let emptyConfig: [UInt8] = Array("{}".utf8)
    public static let emptyConfigDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

    public let bytes: [UInt8]
    public let digest: String

    public init(cid: String, layerSize: Int, annotations: [String: String]) {
        let layerDigest = RecordCID.digest(of: cid)?.hexString ?? ""
        var json = #"{"annotations":{"#
        json += annotations.keys.sorted().map { "\(Self.quoted($0)):\(Self.quoted(annotations[$0] ?? ""))" }.joined(separator: ",")
        json += #"},"config":{"digest":"\#(Self.emptyConfigDigest)","mediaType":"application/vnd.oci.empty.v1+json","size":2},"#
        json += #""layers":[{"digest":"sha256:\#(layerDigest)","mediaType":"\#(Self.layerMediaType)","size":\#(layerSize)}],"#
        json += #""mediaType":"\#(Self.mediaType)","schemaVersion":2}"#
        bytes = Array(json.utf8)
        digest = "sha256:" + SHA256.hash(data: bytes).hexString
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var output: [UInt8] = []
        CanonicalJSON.writeString(text, into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
