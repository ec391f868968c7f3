import Crypto
import Foundation
import Testing

@testable import SyncCore

/// Protocol 3's handshake signature on its own: bound to the connection's key exchange, to the instance id and to
/// the pairing secret, with keyids derived from the key.
@Suite("Backrest protocol 3: the transcript-bound Ed25519 handshake")
struct Protocol3HandshakeTests {
    static func exchange() throws -> (publicKey: [UInt8], encapsulation: [UInt8]) {
        let client = try HybridKEM.PrivateKey.generate()
        return (client.publicKey, try HybridKEM.encapsulate(to: client.publicKey).encapsulation)
    }

    @Test("a signed handshake verifies on its own connection only, for its own instance id and pairing secret")
    func signAndVerify() throws {
        let identity = Curve25519.Signing.PrivateKey()
        let keyid = Protocol3Handshake.keyid(of: identity.publicKey)
        #expect(keyid.hasPrefix("ed25519.") && keyid.utf8.count == 51 && !keyid.contains("="))
        let text = Protocol3Handshake.publicKeyText(identity.publicKey)
        #expect(text.utf8.count == 43 && !text.hasSuffix("="))
        let (kemPublicKey, encapsulation) = try Self.exchange()
        let transcript = try Protocol3Handshake.transcript(kemPublicKey: kemPublicKey, kemEncapsulation: encapsulation)
        let signature = try Protocol3Handshake.sign(with: identity, instanceID: "laptop", pairingSecret: "token", transcript: transcript)
        let verified = try Protocol3Handshake.verify(
            keyid: keyid, publicKeyText: text, instanceID: "laptop", pairingSecret: "token", signature: signature, transcript: transcript)
        #expect(verified.rawRepresentation == identity.publicKey.rawRepresentation)

        // Replayed on another connection: another key exchange, another transcript.
        let (otherKey, otherEncapsulation) = try Self.exchange()
        let otherTranscript = try Protocol3Handshake.transcript(kemPublicKey: otherKey, kemEncapsulation: otherEncapsulation)
        #expect(throws: Protocol3Handshake.HandshakeError.badSignature) {
            try Protocol3Handshake.verify(
                keyid: keyid, publicKeyText: text, instanceID: "laptop", pairingSecret: "token", signature: signature,
                transcript: otherTranscript)
        }
        // Another instance id, another pairing secret, or the fields' boundary moved: not this signature.
        for (instance, secret) in [("desktop", "token"), ("laptop", ""), ("laptopt", "oken"), ("lapto", "ptoken")] {
            #expect(throws: Protocol3Handshake.HandshakeError.badSignature, "\(instance)|\(secret)") {
                try Protocol3Handshake.verify(
                    keyid: keyid, publicKeyText: text, instanceID: instance, pairingSecret: secret, signature: signature,
                    transcript: transcript)
            }
        }
    }

    @Test("a keyid that is not the key's, a key that is not 32 bytes of base64, or a forged signature is refused with the reason")
    func refusals() throws {
        let identity = Curve25519.Signing.PrivateKey()
        let other = Curve25519.Signing.PrivateKey()
        let transcript = try Protocol3Handshake.transcript(kemPublicKey: [1, 2, 3], kemEncapsulation: [4, 5])
        let signature = try Protocol3Handshake.sign(with: identity, instanceID: "a", pairingSecret: "", transcript: transcript)
        let text = Protocol3Handshake.publicKeyText(identity.publicKey)
        let claimed = Protocol3Handshake.keyid(of: other.publicKey)
        #expect(
            throws: Protocol3Handshake.HandshakeError.keyidMismatch(claimed: claimed, derived: Protocol3Handshake.keyid(of: identity.publicKey))
        ) {
            try Protocol3Handshake.verify(
                keyid: claimed, publicKeyText: text, instanceID: "a", pairingSecret: "", signature: signature, transcript: transcript)
        }
        for bad in ["", "not base64!", String(text.dropLast(2)), text + "AAAA", String(repeating: "A", count: 1 << 20)] {
            #expect(throws: Protocol3Handshake.HandshakeError.publicKeyEncoding) {
                try Protocol3Handshake.verify(
                    keyid: "ed25519.x", publicKeyText: bad, instanceID: "a", pairingSecret: "", signature: signature, transcript: transcript)
            }
        }
        // Signed by another key that claims this one.
        let forged = try Protocol3Handshake.sign(with: other, instanceID: "a", pairingSecret: "", transcript: transcript)
        #expect(throws: Protocol3Handshake.HandshakeError.badSignature) {
            try Protocol3Handshake.verify(
                keyid: Protocol3Handshake.keyid(of: identity.publicKey), publicKeyText: text, instanceID: "a", pairingSecret: "",
                signature: forged, transcript: transcript)
        }
        #expect(throws: Protocol3Handshake.HandshakeError.badSignature) {
            try Protocol3Handshake.verify(
                keyid: Protocol3Handshake.keyid(of: identity.publicKey), publicKeyText: text, instanceID: "a", pairingSecret: "",
                signature: [UInt8](repeating: 0, count: 1 << 16), transcript: transcript)
        }
    }
}
