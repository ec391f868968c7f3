import Crypto
import Foundation

/// What protocol 3's handshake signs (§16a, step 3), apart from the stream: the transcript of the key exchange
/// (so a handshake is worthless on any other connection), the Ed25519 signature over the sender's instance id,
/// pairing secret and that transcript, and ed25519 keyids. No timestamps, no P-256.
package enum Protocol3Handshake {
    static let protocolVersion: UInt64 = 3
    static let transcriptLabel = Array("backrest-sync-transport-transcript/v1\0".utf8)
    static let signatureLabel = Array("backrest-sync-handshake/v1\0".utf8)

    package enum HandshakeError: Error, Equatable, CustomStringConvertible {
        case fieldTooLong(String)
        case publicKeyEncoding
        case keyidMismatch(claimed: String, derived: String)
        case badSignature

        package var description: String {
            switch self {
            case .fieldTooLong(let field): "handshake field \(field) is too long"
            case .publicKeyEncoding: "handshake public key is not 32 bytes of base64 (ed25519)"
            case .keyidMismatch(let claimed, let derived):
                "handshake keyid \(claimed.prefix(80)) does not match its public key (\(derived))"
            case .badSignature: "handshake signature does not verify over this connection's transcript"
            }
        }
    }

    /// `uint32_be(length) ‖ bytes`.
    static func lengthPrefixed(_ bytes: [UInt8], field: String) throws(HandshakeError) -> [UInt8] {
        guard let length = UInt32(exactly: bytes.count) else { throw .fieldTooLong(field) }
        return [
            UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length),
        ]
            + bytes
    }

    /// SHA-256 of the label, the transport version (1) and both KEM messages.
    package static func transcript(kemPublicKey: [UInt8], kemEncapsulation: [UInt8]) throws(HandshakeError) -> [UInt8] {
        let message =
            transcriptLabel + [0, 0, 0, 1] + (try lengthPrefixed(kemPublicKey, field: "kem_public_key"))
            + (try lengthPrefixed(kemEncapsulation, field: "kem_encapsulation"))
        return Array(SHA256.hash(data: message))
    }

    /// The digest an Ed25519 handshake signature covers.
    static func signedDigest(instanceID: String, pairingSecret: String, transcript: [UInt8]) throws(HandshakeError) -> [UInt8] {
        let version = (0..<8).map { UInt8(truncatingIfNeeded: protocolVersion >> (56 - 8 * UInt64($0))) }
        let message =
            signatureLabel + version + (try lengthPrefixed(Array(instanceID.utf8), field: "instance_id"))
            + (try lengthPrefixed(Array(pairingSecret.utf8), field: "pairing_secret"))
            + (try lengthPrefixed(transcript, field: "transcript"))
        return Array(SHA256.hash(data: message))
    }

    package static func sign(
        with key: Curve25519.Signing.PrivateKey, instanceID: String, pairingSecret: String, transcript: [UInt8]
    ) throws -> [UInt8] {
        Array(try key.signature(for: signedDigest(instanceID: instanceID, pairingSecret: pairingSecret, transcript: transcript)))
    }

    /// Checks a peer's handshake: its key from `ed25519pub` (32 bytes, base64 without padding), the keyid derived
    /// from it, and the signature over this connection's transcript. Returns the key.
    package static func verify(
        keyid: String, publicKeyText: String, instanceID: String, pairingSecret: String, signature: [UInt8],
        transcript: [UInt8]
    ) throws(HandshakeError) -> Curve25519.Signing.PublicKey {
        guard publicKeyText.utf8.count <= 64, let raw = Data(base64Encoded: padded(publicKeyText)), raw.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { throw .publicKeyEncoding }
        let derived = Self.keyid(of: key)
        guard keyid == derived else { throw .keyidMismatch(claimed: keyid, derived: derived) }
        let digest = try signedDigest(instanceID: instanceID, pairingSecret: pairingSecret, transcript: transcript)
        guard key.isValidSignature(signature, for: digest) else { throw .badSignature }
        return key
    }

    /// `"ed25519." + base64url_nopad(SHA-256(public key))`.
    package static func keyid(of key: Curve25519.Signing.PublicKey) -> String {
        let digest = Data(SHA256.hash(data: key.rawRepresentation)).base64EncodedString()
        return "ed25519."
            + digest.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The key as `ed25519pub` carries it.
    package static func publicKeyText(_ key: Curve25519.Signing.PublicKey) -> String {
        key.rawRepresentation.base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    private static func padded(_ text: String) -> String {
        let remainder = text.utf8.count % 4
        return remainder == 0 ? text : text + String(repeating: "=", count: 4 - remainder)
    }
}
