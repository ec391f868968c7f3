import Crypto
import Foundation
import Testing
import WharfEncoding
import WharfTestSupport

@testable import SyncCore

/// HPKE KEM 0x0051 (MLKEM1024-P384) as backrest 1.13+ uses it, against the hybrid-KEM draft's vector (the one in
/// Go's crypto/hpke testdata): the private seed expands to the vector's public key, the vector's encapsulation
/// decapsulates to its shared secret; the hub's encapsulation agrees with the initiator's decapsulation; malformed
/// KEM messages are refused with the reason.
@Suite("Backrest protocol 3: the hybrid KEM (ML-KEM-1024 + P-384)")
struct HybridKEMTests {
    static func vector() throws -> [String: Any] {
        let data = try Data(contentsOf: ProjectPaths.fixture("testdata/hpke_pq_mlkem1024_p384_vector.json"))
        let file = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require((file["vectors"] as? [[String: Any]])?.first)
    }

    static func bytes(_ object: [String: Any], _ key: String) throws -> [UInt8] {
        try #require((object[key] as? String).flatMap { Data(hexString: $0) }.map { Array($0) }, "\(key)")
    }

    @Test("SHAKE256 agrees with FIPS 202 (Python's hashlib) across the rate boundary")
    func shake() {
        #expect(SHAKE256.hash([], outputLength: 32).hexString == "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f")
        let long = SHAKE256.hash(Array("abc".utf8), outputLength: 200)
        #expect(long.count == 200)
        #expect(long.prefix(40).hexString == "483366601360a8771c6863080cc4114d8db44530f8f1e1ee4f94ea37e78b5739d5a15bef186a5386")
        let twoBlocks = Array((0..<512).map { UInt8($0 % 256) })
        #expect(
            SHAKE256.hash(twoBlocks, outputLength: 40).hexString
                == "a1d71885b0a841f03d1dc7f2738a15cc984071a17ffed5ecacb9f58720a473be1f2d28b96d543a36")
    }

    @Test("the vector's private seed expands to its public key, and its encapsulation decapsulates to its shared secret")
    func vectorDecapsulation() throws {
        let vector = try Self.vector()
        let key = try HybridKEM.PrivateKey(seed: try Self.bytes(vector, "skRm"))
        #expect(key.publicKey == (try Self.bytes(vector, "pkRm")))
        #expect(key.publicKey.count == 1665)
        #expect(try key.decapsulate(try Self.bytes(vector, "enc")) == (try Self.bytes(vector, "shared_secret")))
    }

    @Test("the hub's encapsulation to a client's key gives the secret the client decapsulates; each encapsulation is fresh")
    func roundTrip() throws {
        let client = try HybridKEM.PrivateKey.generate()
        let first = try HybridKEM.encapsulate(to: client.publicKey)
        #expect(first.encapsulation.count == 1665 && first.sharedSecret.count == 32)
        #expect(try client.decapsulate(first.encapsulation) == first.sharedSecret)
        let second = try HybridKEM.encapsulate(to: client.publicKey)
        #expect(second.sharedSecret != first.sharedSecret)
        #expect(try client.decapsulate(second.encapsulation) == second.sharedSecret)
        // Another client's key does not recover it.
        let other = try HybridKEM.PrivateKey.generate()
        #expect(try other.decapsulate(first.encapsulation) != first.sharedSecret)
        // The session keys both sides derive from it agree.
        let hub = TransportKeys(sharedSecret: first.sharedSecret)
        let clientKeys = TransportKeys(sharedSecret: try client.decapsulate(first.encapsulation))
        #expect(hub.initiatorToResponder == clientKeys.initiatorToResponder)
    }

    @Test("malformed KEM messages are refused with the reason, never trapped on")
    func malformed() throws {
        let client = try HybridKEM.PrivateKey.generate()
        var key = client.publicKey
        #expect(throws: HybridKEM.KEMError.publicKeyLength(1664)) { try HybridKEM.encapsulate(to: Array(key.dropLast())) }
        #expect(throws: HybridKEM.KEMError.publicKeyLength(0)) { try HybridKEM.encapsulate(to: []) }
        #expect(throws: HybridKEM.KEMError.publicKeyLength(1 << 20)) { try HybridKEM.encapsulate(to: [UInt8](repeating: 0, count: 1 << 20)) }
        // A P-384 part that is not on the curve.
        key[key.count - 1] ^= 0x01
        #expect(throws: HybridKEM.KEMError.invalidPoint) { try HybridKEM.encapsulate(to: key) }
        var compressed = client.publicKey
        compressed[HybridKEM.mlkemPublicKeyLength] = 0x02
        #expect(throws: HybridKEM.KEMError.invalidPoint) { try HybridKEM.encapsulate(to: compressed) }
        // An ML-KEM part whose coefficients are out of range (FIPS 203's modulus check).
        var badMLKEM = client.publicKey
        for index in 0..<384 { badMLKEM[index] = 0xFF }
        #expect(throws: HybridKEM.KEMError.invalidMLKEMKey) { try HybridKEM.encapsulate(to: badMLKEM) }
        // Encapsulations of the wrong size or with a point off the curve.
        let good = try HybridKEM.encapsulate(to: client.publicKey).encapsulation
        #expect(throws: HybridKEM.KEMError.encapsulationLength(1666)) { try client.decapsulate(good + [0]) }
        var offCurve = good
        offCurve[offCurve.count - 1] ^= 0x01
        #expect(throws: HybridKEM.KEMError.invalidPoint) { try client.decapsulate(offCurve) }
        #expect(throws: HybridKEM.KEMError.seedLength(31)) { try HybridKEM.PrivateKey(seed: [UInt8](repeating: 1, count: 31)) }
    }
}
