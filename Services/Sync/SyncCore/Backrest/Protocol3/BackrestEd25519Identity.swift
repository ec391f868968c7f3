import Crypto
import Foundation
import WharfProto

/// The hub's protocol-3 identity (backrest 1.13+): an ed25519 key, known to clients by its keyid
/// `ed25519.<base64url(SHA-256(key))>`. Kept in a PKCS#8 PEM file (what `openssl genpkey -algorithm ed25519`
/// writes), beside the P-256 key protocol 1 uses.
public struct BackrestEd25519Identity: Sendable {
    /// PKCS#8 PrivateKeyInfo of an Ed25519 key (RFC 8410): version 0, algorithm 1.3.101.112, the 32-byte seed.
    static let pkcs8Prefix: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]

    public let privateKey: Curve25519.Signing.PrivateKey
    public let keyid: String
    /// `ed25519pub` as the handshake carries it: the raw key in base64 without padding.
    public let publicKeyText: String

    public init(_ privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        keyid = Protocol3Handshake.keyid(of: privateKey.publicKey)
        publicKeyText = Protocol3Handshake.publicKeyText(privateKey.publicKey)
    }

    public static func generate() -> BackrestEd25519Identity { BackrestEd25519Identity(Curve25519.Signing.PrivateKey()) }

    /// Parses a PKCS#8 PEM of an Ed25519 key (any label).
    public init(pem: String) throws(BackrestKeyError) {
        guard let der = BackrestPEM.decode(pem) else { throw BackrestKeyError("the ed25519 key is not PEM") }
        guard der.count == Self.pkcs8Prefix.count + 32, der.starts(with: Self.pkcs8Prefix),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
        else { throw BackrestKeyError("the ed25519 key is not a PKCS#8 Ed25519 private key") }
        self.init(key)
    }

    public var privatePEM: String { BackrestPEM.encode(Self.pkcs8Prefix + Array(privateKey.rawRepresentation), label: "PRIVATE KEY") }

    public var publicKey: V1_PublicKey {
        .with {
            $0.keyid = keyid
            $0.ed25519Pub = publicKeyText
        }
    }
}
