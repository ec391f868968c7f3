import Crypto
import Foundation
import WharfProto

/// What is wrong with a key or signature a peer sent (or a key file).
public struct BackrestKeyError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A backrest peer's public key (spec/backrest-sync.md §4): ECDSA P-256 despite the field name `ed25519pub`,
/// PEM of its SubjectPublicKeyInfo DER, identified by its keyid.
public struct BackrestPublicKey: Sendable, Equatable {
    public let key: P256.Signing.PublicKey
    public let keyid: String

    public init(_ key: P256.Signing.PublicKey) {
        self.key = key
        keyid = Self.keyid(of: key)
    }

    /// Parses `ed25519pub` (any PEM label, SPKI DER of a P-256 key).
    public init(pem: String) throws(BackrestKeyError) {
        guard let der = BackrestPEM.decode(pem) else { throw BackrestKeyError("the public key is not PEM") }
        do {
            self.init(try P256.Signing.PublicKey(derRepresentation: der))
        } catch {
            throw BackrestKeyError("the public key is not an ECDSA P-256 SubjectPublicKeyInfo")
        }
    }

    /// `"ecdsa." + base64url_nopad(SHA-256(X ‖ Y))` where X and Y are Go's `big.Int.Bytes()`: big-endian with
    /// leading zero bytes stripped, each on its own (so a coordinate may contribute 31 bytes or fewer).
    public static func keyid(of key: P256.Signing.PublicKey) -> String {
        let raw = Array(key.rawRepresentation)  // X (32) then Y (32)
        let minimal = raw[0..<32].drop(while: { $0 == 0 }) + raw[32..<64].drop(while: { $0 == 0 })
        let digest = Data(SHA256.hash(data: Array(minimal)))
        let base64url = digest.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "ecdsa." + base64url
    }

    /// PEM "EC PUBLIC", as backrest writes `ed25519pub`.
    public var pem: String { BackrestPEM.encode(Array(key.derRepresentation), label: "EC PUBLIC") }

    public var proto: V1_PublicKey {
        .with {
            $0.keyid = keyid; $0.ed25519Pub = pem
        }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.keyid == rhs.keyid }

    /// Whether `signature` (ASN.1 DER) is this key's ECDSA signature over SHA-256 of `payload`.
    public func isValidSignature(_ signature: some DataProtocol, over payload: some DataProtocol) -> Bool {
        guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
        return key.isValidSignature(parsed, for: payload)
    }
}

/// A backrest identity with its private key: the hub's own (`WHARF_BACKREST_KEY_FILE`), or a test client's.
public struct BackrestIdentity: Sendable {
    public let privateKey: P256.Signing.PrivateKey
    public let publicKey: BackrestPublicKey

    public init(_ privateKey: P256.Signing.PrivateKey) {
        self.privateKey = privateKey
        publicKey = BackrestPublicKey(privateKey.publicKey)
    }

    public static func generate() -> BackrestIdentity { BackrestIdentity(P256.Signing.PrivateKey()) }

    /// Parses `ed25519priv` (any PEM label; SEC1 DER as backrest writes it, or PKCS#8).
    public init(pem: String) throws(BackrestKeyError) {
        guard let der = BackrestPEM.decode(pem) else { throw BackrestKeyError("the private key is not PEM") }
        do {
            self.init(try P256.Signing.PrivateKey(derRepresentation: der))
        } catch {
            throw BackrestKeyError("the private key is not an ECDSA P-256 key in SEC1 or PKCS#8 DER")
        }
    }

    /// PEM "EC PRIVATE" of the SEC1 ECPrivateKey DER (Go's `x509.MarshalECPrivateKey`): version 1, the
    /// 32-byte scalar, the curve's OID and the uncompressed public point.
    public var privatePEM: String {
        let scalar = Array(privateKey.rawRepresentation)
        let point = Array(privateKey.publicKey.x963Representation)  // 0x04 ‖ X ‖ Y
        let der: [UInt8] =
            [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20] + scalar
            + [0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
            + [0xA1, 0x44, 0x03, 0x42, 0x00] + point
        return BackrestPEM.encode(der, label: "EC PRIVATE")
    }

    /// ECDSA P-256 over SHA-256 of `payload`, ASN.1 DER.
    public func signature(over payload: some DataProtocol) throws -> Data {
        try privateKey.signature(for: payload).derRepresentation
    }

    /// A SignedMessage as backrest creates one: the signature covers the payload alone (the timestamp
    /// prefix upstream means to add is discarded there, spec §4), the timestamp is only sent.
    public func signedMessage(payload: Data, at date: Date = Date()) throws -> V1_SignedMessage {
        let signature = try signature(over: payload)
        return .with {
            $0.keyid = publicKey.keyid
            $0.payload = payload
            $0.signature = signature
            $0.timestampMillis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        }
    }
}
