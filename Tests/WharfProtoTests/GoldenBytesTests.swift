import Foundation
import SwiftProtobuf
import Testing
import WharfProto

/// The hex bytes the spec prints after `label` (same line or the following lines, consecutive hex tokens
/// concatenated), read from the vendored wire file.
func golden(_ label: String, in file: String) throws -> Data {
    let text = try Fixtures.text("spec/\(file)")
    guard let range = text.range(of: label) else { throw GoldenMissing(label: label) }
    var hex = ""
    for token in text[range.upperBound...].split(whereSeparator: \.isWhitespace).prefix(40) {
        let isHex = token.count >= 2 && token.count % 2 == 0 && token.allSatisfy { $0.isHexDigit && !$0.isUppercase }
        if isHex { hex += token } else if !hex.isEmpty { break }
    }
    guard !hex.isEmpty else { throw GoldenMissing(label: label) }
    return Data(hex: hex)
}

struct GoldenMissing: Error { var label: String }

/// Encodes `message` and checks it equals `expected`; decodes `expected` and checks it equals `message`.
func expectRoundTrip<M: SwiftProtobuf.Message & Equatable>(
    _ message: M, _ expected: Data, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let encoded: Data = try message.serializedBytes()
    #expect(encoded.hex == expected.hex, sourceLocation: sourceLocation)
    let decoded = try M(serializedBytes: expected)
    #expect(decoded == message, sourceLocation: sourceLocation)
}

@Suite("Golden encodings from the wire files")
struct GoldenBytesTests {
    @Test("orlysync (wire-orly.txt section 6)")
    func orly() throws {
        let file = "wire-orly.txt"
        #expect(try Orlysync_Common_V1_Empty().serializedBytes() == Data())
        try expectRoundTrip(
            Orlysync_Common_V1_ReadyResponse.with { $0.ready = true },
            golden("ReadyResponse{ready:true}", in: file))
        try expectRoundTrip(
            Orlysync_Negentropy_V1_NegOpenRequest.with {
                $0.subscriptionID = "s1"
                $0.filter = .with { $0.kinds = [1] }
                $0.initialMessage = Data([0x61, 0x00, 0x00, 0x02, 0x00])
                $0.connectionID = "c1"
            }, golden(#"connection_id:"c1"}"#, in: file))
        try expectRoundTrip(
            Orlysync_Negentropy_V1_NegOpenResponse.with {
                $0.message = Data([0x61])
                $0.complete = true
            }, golden("NegOpenResponse{message:61, complete:true}", in: file))
        try expectRoundTrip(
            Orlysync_Negentropy_V1_NegMsgResponse.with { $0.error = "session not found" },
            golden(#"NegMsgResponse{error:"session not found"}"#, in: file))
        try expectRoundTrip(
            Orlysync_Negentropy_V1_SyncProgress.with {
                $0.peerURL = "ws://127.0.0.1:7777"
                $0.round = 1
                $0.complete = true
            }, golden(#"SyncProgress{peer_url:"ws://127.0.0.1:7777", round:1, complete:true}"#, in: file))
        try expectRoundTrip(
            Orlysync_Negentropy_V1_SyncStatusResponse.with { $0.lastSync = -62135596800 },
            golden("SyncStatusResponse{active:false, last_sync:-62135596800, peer_count:0}", in: file))
        #expect(try Orlysync_Negentropy_V1_PeerSyncStateResponse.with { $0.found = false }.serializedBytes() == Data())
        try expectRoundTrip(
            Orlysync_Negentropy_V1_ClientSession.with {
                $0.subscriptionID = "s1"
                $0.connectionID = "c1"
                $0.createdAt = 1_700_000_000
                $0.lastActivity = 1_700_000_000
            }, golden("round_count:0}", in: file))
    }

    @Test("orlysync Filter: packed kinds, raw authors, tag map, since=0 present, limit")
    func orlyFilter() throws {
        // The spec elides the 64 hex characters of the tag value; any 64 ASCII characters give this layout.
        let tagValue = String(repeating: "5c83da77", count: 8)
        let filter = Orlysync_Common_V1_Filter.with {
            $0.kinds = [1, 7]
            $0.authors = [Data(count: 32)]
            $0.tags = ["e": .with { $0.values = [Data(tagValue.utf8)] }]
            $0.since = 0
            $0.limit = 100
        }
        let expected = Data(
            hex: "120201071a20" + String(repeating: "00", count: 32) + "22470a016512420a40"
                + Data(tagValue.utf8).hex + "28004064")
        try expectRoundTrip(filter, expected)
        #expect(try Orlysync_Common_V1_Filter(serializedBytes: expected).hasSince)
        #expect(!(try Orlysync_Common_V1_Filter(serializedBytes: Data())).hasSince)
    }

    @Test("tvix and snix castore (wire-tvix.txt section 4) encode identically")
    func castore() throws {
        let file = "wire-tvix.txt"
        let helloDigest = try golden("D  = b3(\"Hello World!\") =", in: file)
        let emptyDigest = try golden("E  = b3(\"\")             =", in: file)
        #expect(helloDigest.count == 32 && emptyDigest.count == 32)
        try expectRoundTrip(
            Tvix_Castore_V1_StatBlobRequest.with {
                $0.digest = helloDigest; $0.sendChunks = true
            },
            golden("StatBlobRequest{digest=D, send_chunks=true}", in: file))
        try expectRoundTrip(
            Tvix_Castore_V1_StatBlobRequest.with { $0.digest = helloDigest },
            golden("StatBlobRequest{digest=D}", in: file))
        #expect(try Tvix_Castore_V1_StatBlobResponse().serializedBytes() == Data())
        try expectRoundTrip(
            Tvix_Castore_V1_StatBlobResponse.with {
                $0.chunks = [
                    .with {
                        $0.digest = helloDigest; $0.size = 12
                    },
                    .with {
                        $0.digest = emptyDigest; $0.size = 300_000
                    },
                ]
            }, golden("StatBlobResponse{chunks=[{D,12},{E,300000}]}", in: file))
        try expectRoundTrip(
            Tvix_Castore_V1_ReadBlobRequest.with { $0.digest = helloDigest },
            golden("ReadBlobRequest{digest=D}", in: file))
        try expectRoundTrip(
            Tvix_Castore_V1_BlobChunk.with { $0.data = Data("Hello World!".utf8) },
            golden(#"BlobChunk{data="Hello World!"}"#, in: file))
        let big: Data = try Tvix_Castore_V1_BlobChunk.with { $0.data = Data(count: 4096) }.serializedBytes()
        #expect(big.count == 4099 && big.prefix(3).hex == "0a8020")
        try expectRoundTrip(
            Tvix_Castore_V1_PutBlobResponse.with { $0.digest = helloDigest },
            golden("PutBlobResponse{digest=D}", in: file))
        // snix renamed only the package: the same bytes decode into its messages.
        let snix = try Snix_Castore_V1_StatBlobResponse(serializedBytes: golden("StatBlobResponse{chunks=[{D,12},{E,300000}]}", in: file))
        #expect(snix.chunks.map(\.size) == [12, 300_000])
    }

    @Test("backrest v1sync frames (wire-backrest.txt Appendix C)")
    func backrest() throws {
        let file = "wire-backrest.txt"
        let handshakeBytes = try golden("serialized SyncStreamItem (hex):", in: file)
        let item = try V1sync_SyncStreamItem(serializedBytes: handshakeBytes)
        guard case .handshake(let handshake) = item.action else {
            Issue.record("expected a handshake, got \(String(describing: item.action))")
            return
        }
        #expect(handshake.protocolVersion == 1)
        #expect(handshake.publicKey.keyid == "ecdsa.05BlKD2qFJGT19XtUPlLTGCwYPD_jrSmOlLgPXQVgZ0")
        #expect(
            handshake.publicKey.ed25519Pub.hasPrefix("-----BEGIN EC PUBLIC-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKK32mAoKghGiIUAFfENCwMseRvjt\n"))
        #expect(handshake.instanceID.keyid == handshake.publicKey.keyid)
        #expect(handshake.instanceID.payload == Data("test-client".utf8))
        #expect(handshake.instanceID.signature == (try golden("signature (DER, hex):", in: file)))
        #expect(handshake.instanceID.timestampMillis == 1_762_048_175_000)
        #expect(try item.serializedBytes() == handshakeBytes)

        try expectRoundTrip(
            V1sync_SyncStreamItem.with { $0.heartbeat = .init() },
            golden("heartbeat SyncStreamItem (hex):", in: file))
        try expectRoundTrip(
            V1sync_SyncStreamItem.with { $0.requestOperations = .init() },
            golden("request_operations{0,0} SyncStreamItem (hex):", in: file))
        try expectRoundTrip(
            V1sync_SyncStreamItem.with { $0.requestResources = .init() },
            golden("request_resources SyncStreamItem (hex):", in: file))
    }

    @Test("agntcy Record, RecordRef and the routing.v1 request survive a round trip with their field numbers")
    func agntcy() throws {
        // wire-agntcy.txt has no golden bytes; these are the standard encodings of its tables.
        try expectRoundTrip(Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = "bafy" }, Data(hex: "0a0462616679"))
        try expectRoundTrip(Routing_V1_PublishRequest.with { $0.recordCid = "bafy" }, Data(hex: "0a0462616679"))
        // ListSyncsRequest has no field 1: limit is #2 (tag 0x10), offset #3 (0x18); explicit presence keeps 0.
        try expectRoundTrip(
            Agntcy_Dir_Store_V1_ListSyncsRequest.with {
                $0.limit = 0; $0.offset = 5
            }, Data(hex: "10001805"))
        // A oneof member set to its default value is still written (public_key = "" → tag 0x1a, length 0).
        try expectRoundTrip(Agntcy_Dir_Store_V1_PushReferrerRequest.with { $0.publicKey = "" }, Data(hex: "1a00"))
        let record = Agntcy_Dir_Core_V1_Record.with {
            $0.data = Google_Protobuf_Struct(fields: ["name": Google_Protobuf_Value(stringValue: "agent")])
        }
        let decoded = try Agntcy_Dir_Core_V1_Record(serializedBytes: try record.serializedBytes() as Data)
        #expect(decoded.data.fields["name"]?.stringValue == "agent")
    }
}
