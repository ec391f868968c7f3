import Crypto
import Foundation
import Testing
import WharfEncoding
import WharfTestSupport

@testable import SyncCore

/// Backrest protocol 3's transport below the KEM: RFC 9180's key schedule and exporter against RFC 9180's own
/// HKDF-SHA256 vectors and the hybrid-KEM draft's HKDF-SHA384 vector for KEM 0x0051, the per-direction session
/// keys, and the frame cipher's refusals.
@Suite("Backrest protocol 3: key schedule, session keys, frames")
struct Protocol3TransportTests {
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: ProjectPaths.fixture("testdata/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func bytes(_ object: [String: Any], _ key: String) throws -> [UInt8] {
        let text = try #require(object[key] as? String, "\(key)")
        return try #require(Data(hexString: text).map { Array($0) }, "\(key) is hex")
    }

    static func checkExports<H: HashFunction>(_ schedule: HPKEKeySchedule<H>, _ vector: [String: Any]) throws {
        let exports = try #require(vector["exports"] as? [[String: Any]])
        #expect(!exports.isEmpty)
        for export in exports {
            let length = try #require(export["L"] as? Int)
            let context = try bytes(export, "exporter_context")
            #expect(schedule.export(context: context, length: length) == (try bytes(export, "exported_value")), "\(context)")
        }
    }

    @Test("RFC 9180 A.1.1 (HKDF-SHA256): key schedule context, key, base nonce, exporter secret and exports")
    func rfc9180() throws {
        let vector = try Self.json("rfc9180_a1_1_key_schedule.json")
        let suite = HPKEKeySchedule<SHA256>.suiteID(kem: 0x0020, kdf: 0x0001, aead: 0x0001)
        #expect(suite == Array("HPKE".utf8) + [0x00, 0x20, 0x00, 0x01, 0x00, 0x01])
        let schedule = HPKEKeySchedule<SHA256>(
            suiteID: suite, sharedSecret: try Self.bytes(vector, "shared_secret"), info: try Self.bytes(vector, "info"),
            keyLength: 16, nonceLength: 12)
        #expect(schedule.keyScheduleContext == (try Self.bytes(vector, "key_schedule_context")))
        #expect(schedule.key == (try Self.bytes(vector, "key")))
        #expect(schedule.baseNonce == (try Self.bytes(vector, "base_nonce")))
        #expect(schedule.exporterSecret == (try Self.bytes(vector, "exporter_secret")))
        let secret = HPKEKeySchedule<SHA256>.labeledExtract(
            suiteID: suite, salt: try Self.bytes(vector, "shared_secret"), label: "secret", ikm: [])
        #expect(secret == (try Self.bytes(vector, "secret")))
        try Self.checkExports(schedule, vector)
    }

    @Test("the hybrid-KEM draft's vector for KEM 0x0051 (HKDF-SHA384, AES-256-GCM): suite id, key, base nonce, exporter secret and exports")
    func kem0x0051() throws {
        let file = try Self.json("hpke_pq_mlkem1024_p384_vector.json")
        let vector = try #require((file["vectors"] as? [[String: Any]])?.first)
        #expect(vector["kem_id"] as? Int == 0x51)
        let suite = HPKEKeySchedule<SHA384>.suiteID(kem: 0x0051, kdf: 0x0002, aead: 0x0002)
        #expect(suite == (try Self.bytes(vector, "suite_id")))
        let schedule = HPKEKeySchedule<SHA384>(
            suiteID: suite, sharedSecret: try Self.bytes(vector, "shared_secret"), info: try Self.bytes(vector, "info"),
            keyLength: 32, nonceLength: 12)
        #expect(schedule.key == (try Self.bytes(vector, "key")))
        #expect(schedule.baseNonce == (try Self.bytes(vector, "base_nonce")))
        #expect(schedule.exporterSecret == (try Self.bytes(vector, "exporter_secret")))
        try Self.checkExports(schedule, vector)
    }

    @Test("the session keys: backrest's suite (0x0051, HKDF-SHA256, AES-256-GCM), one key per direction, the same on both sides")
    func sessionKeys() throws {
        #expect(
            HPKEKeySchedule<SHA256>.suiteID(kem: TransportKeys.kemID, kdf: TransportKeys.kdfID, aead: TransportKeys.aeadID)
                == Array("HPKE".utf8) + [0x00, 0x51, 0x00, 0x01, 0x00, 0x02])
        let secret = Array(SHA256.hash(data: Data("a shared secret".utf8)))
        let client = TransportKeys(sharedSecret: secret)
        let hub = TransportKeys(sharedSecret: secret)
        let raw = { (key: SymmetricKey) in key.withUnsafeBytes { Array($0) } }
        #expect(raw(client.initiatorToResponder) == raw(hub.initiatorToResponder))
        #expect(raw(client.responderToInitiator) == raw(hub.responderToInitiator))
        #expect(raw(client.initiatorToResponder) != raw(client.responderToInitiator))
        #expect(raw(client.initiatorToResponder).count == 32)
        let other = TransportKeys(sharedSecret: Array(SHA256.hash(data: Data("another".utf8))))
        #expect(raw(other.initiatorToResponder) != raw(client.initiatorToResponder))
    }

    @Test("frames: counter nonces from 0 in each direction; replayed, skipped, reordered, tampered or oversized frames are refused with the reason")
    func frames() throws {
        let key = SymmetricKey(size: .bits256)
        var sender = SessionFrameCipher(key: key, maximumFrameBytes: 1 << 20)
        var receiver = SessionFrameCipher(key: key, maximumFrameBytes: 1 << 20)
        let first = try sender.seal(Data("first".utf8))
        #expect(first.nonce == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(first.ciphertext.count == 5 + 16)
        #expect(try receiver.open(nonce: first.nonce, ciphertext: first.ciphertext) == Array("first".utf8))
        // The same frame again: its nonce is no longer the one expected.
        #expect(throws: SessionFrameCipher.FrameError.unexpectedNonce(expected: 1, received: first.nonce)) {
            try receiver.open(nonce: first.nonce, ciphertext: first.ciphertext)
        }
        let second = try sender.seal(Data("second".utf8))
        let third = try sender.seal(Data("third".utf8))
        #expect(SessionFrameCipher.counter(of: third.nonce) == 2)
        #expect(throws: SessionFrameCipher.FrameError.unexpectedNonce(expected: 1, received: third.nonce)) {
            try receiver.open(nonce: third.nonce, ciphertext: third.ciphertext)
        }
        var tampered = second.ciphertext
        tampered[0] ^= 1
        #expect(throws: SessionFrameCipher.FrameError.authenticationFailed(counter: 1)) {
            try receiver.open(nonce: second.nonce, ciphertext: tampered)
        }
        #expect(throws: SessionFrameCipher.FrameError.authenticationFailed(counter: 1)) {
            try receiver.open(nonce: second.nonce, ciphertext: Array(second.ciphertext.prefix(15)))
        }
        // A refused frame advances nothing: the genuine one still opens, then the next.
        #expect(try receiver.open(nonce: second.nonce, ciphertext: second.ciphertext) == Array("second".utf8))
        #expect(try receiver.open(nonce: third.nonce, ciphertext: third.ciphertext) == Array("third".utf8))
        // A nonce with a non-zero prefix, or of another length, is never taken.
        var prefixed = SessionFrameCipher.nonce(3)
        prefixed[0] = 1
        #expect(SessionFrameCipher.counter(of: prefixed) == nil)
        #expect(throws: SessionFrameCipher.FrameError.self) { try receiver.open(nonce: prefixed, ciphertext: third.ciphertext) }
        #expect(throws: SessionFrameCipher.FrameError.self) { try receiver.open(nonce: [UInt8](repeating: 0, count: 1 << 20), ciphertext: []) }

        var small = SessionFrameCipher(key: key, maximumFrameBytes: 100)
        #expect(throws: SessionFrameCipher.FrameError.frameTooLarge(bytes: 85, limit: 100)) { try small.seal([UInt8](repeating: 1, count: 85)) }
        #expect(throws: SessionFrameCipher.FrameError.frameTooLarge(bytes: 101, limit: 100)) {
            try small.open(nonce: SessionFrameCipher.nonce(0), ciphertext: [UInt8](repeating: 1, count: 101))
        }
        // The other direction's key does not open this direction's frames.
        var wrongKey = SessionFrameCipher(key: SymmetricKey(size: .bits256), maximumFrameBytes: 1 << 20)
        #expect(throws: SessionFrameCipher.FrameError.authenticationFailed(counter: 0)) {
            try wrongKey.open(nonce: first.nonce, ciphertext: first.ciphertext)
        }
    }

    @Test("the counter never wraps: at its end a stream can neither send nor receive")
    func counterEnd() throws {
        let key = SymmetricKey(size: .bits256)
        var sender = SessionFrameCipher(key: key, maximumFrameBytes: 1 << 20, startingAt: .max - 1)
        var receiver = SessionFrameCipher(key: key, maximumFrameBytes: 1 << 20, startingAt: .max - 1)
        let last = try sender.seal(Data("last".utf8))
        #expect(SessionFrameCipher.counter(of: last.nonce) == UInt64.max - 1)
        #expect(try receiver.open(nonce: last.nonce, ciphertext: last.ciphertext) == Array("last".utf8))
        #expect(throws: SessionFrameCipher.FrameError.counterExhausted) { try sender.seal(Data("one more".utf8)) }
        #expect(throws: SessionFrameCipher.FrameError.counterExhausted) {
            try receiver.open(nonce: SessionFrameCipher.nonce(.max), ciphertext: last.ciphertext)
        }
    }
}
