import Foundation
import NegentropyCore
import Testing
import WharfEncoding
import WharfRuntime
import WharfTestSupport

/// `Fixtures/testdata/nostr_event_id_vectors.json`: events signed by rust-nostr.
struct NostrEventVectors: Decodable {
    struct Case: Decodable {
        var name: String
        var event_json: String
        var serialization_utf8: String
        var id: String
        var sig: String
    }

    var cases: [Case]

    static func load() throws -> NostrEventVectors {
        try JSONDecoder().decode(
            NostrEventVectors.self,
            from: Data(contentsOf: ProjectPaths.fixture("testdata/nostr_event_id_vectors.json")))
    }
}

@Suite("Nostr event ids and BIP-340 signatures")
struct NostrEventTests {
    static let secretKey = [UInt8](repeating: 0, count: 31) + [3]
    static let publicKey = "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"

    @Test("every vector: the id serialization, the id and the signature verify")
    func vectors() throws {
        let vectors = try NostrEventVectors.load()
        #expect(vectors.cases.count == 3)
        for vector in vectors.cases {
            let event = try JSONDecoder().decode(NostrEvent.self, from: Data(vector.event_json.utf8))
            #expect(String(decoding: event.idSerialization, as: UTF8.self) == vector.serialization_utf8, "\(vector.name)")
            #expect(event.computedID == vector.id, "\(vector.name)")
            #expect(event.sig == vector.sig)
            #expect(throws: Never.self, "\(vector.name)") { try event.validate() }
            // Our JSON of the event parses back to the same event.
            #expect(try JSONDecoder().decode(NostrEvent.self, from: Data(event.json)) == event)
        }
    }

    @Test("a one-bit change in the signature, the content or the id is refused with a reason")
    func tampering() throws {
        let event = try JSONDecoder().decode(NostrEvent.self, from: Data(try NostrEventVectors.load().cases[0].event_json.utf8))
        var badSignature = event
        var signature = Array(try #require(Data(hexString: event.sig)))
        signature[10] ^= 0x01
        badSignature.sig = signature.hexString
        #expect(throws: EventRejection("invalid: bad signature")) { try badSignature.validate() }

        var changedContent = event
        changedContent.content += "!"
        #expect(throws: EventRejection("invalid: event id does not match the event's content")) { try changedContent.validate() }

        var upperCaseID = event
        upperCaseID.id = event.id.uppercased()
        #expect(throws: EventRejection("invalid: id must be 64 lower-case hex digits")) { try upperCaseID.validate() }
    }

    @Test("signing with secret key 3 gives the vectors' public key and events that verify")
    func signing() throws {
        let signer = try #require(NostrSigner(secretKey: Self.secretKey))
        #expect(signer.publicKeyHex == Self.publicKey)
        let event = signer.sign(createdAt: 1_700_000_000, kind: 1, tags: [["t", "x\ny"]], content: "hello \u{1} é")
        #expect(throws: Never.self) { try event.validate() }
        #expect(NostrSigner(secretKey: [UInt8](repeating: 0, count: 32)) == nil)  // zero is not a valid key
    }
}
