import Crypto
import Foundation

/// HPKE KEM 0x0051, MLKEM1024-P384 (draft-irtf-cfrg-concrete-hybrid-kems, as Go's crypto/hpke and so backrest
/// 1.13+ implement it): public key = ML-KEM-1024 encapsulation key ‖ uncompressed P-384 point; encapsulation =
/// ML-KEM ciphertext ‖ ephemeral P-384 point; shared secret = SHA3-256(ML-KEM secret ‖ ECDH x-coordinate ‖
/// ephemeral point ‖ recipient point ‖ "MLKEM1024-P384"). The hub only encapsulates to a client's public key; a
/// private key (a 32-byte seed) is what the initiator holds, here for tests and test clients.
package enum HybridKEM {
    static let label = Array("MLKEM1024-P384".utf8)
    static let mlkemPublicKeyLength = 1568
    static let mlkemCiphertextLength = 1568
    static let pointLength = 97
    static let publicKeyLength = mlkemPublicKeyLength + pointLength
    static let encapsulationLength = mlkemCiphertextLength + pointLength
    static let seedLength = 32
    /// P-384's group order, big-endian.
    static let p384Order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF, 0x58, 0x1A, 0x0D, 0xB2,
        0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
    ]

    package enum KEMError: Error, Equatable, CustomStringConvertible {
        case publicKeyLength(Int)
        case encapsulationLength(Int)
        case invalidMLKEMKey
        case invalidPoint
        case seedLength(Int)
        case scalarRejected

        package var description: String {
            switch self {
            case .publicKeyLength(let count):
                "KEM public key of \(count) bytes; MLKEM1024-P384 keys are \(HybridKEM.publicKeyLength)"
            case .encapsulationLength(let count):
                "KEM encapsulation of \(count) bytes; MLKEM1024-P384 encapsulations are \(HybridKEM.encapsulationLength)"
            case .invalidMLKEMKey: "the KEM public key's ML-KEM-1024 part is not a valid key"
            case .invalidPoint: "the KEM message's P-384 part is not a point on the curve"
            case .seedLength(let count): "KEM private key of \(count) bytes; expected \(HybridKEM.seedLength)"
            case .scalarRejected: "the KEM seed expands to no valid P-384 scalar"
            }
        }
    }

    /// Encapsulates to `publicKey` (the hub's side): the shared secret and the encapsulation to send.
    static func encapsulate(to publicKey: [UInt8]) throws(KEMError) -> (sharedSecret: [UInt8], encapsulation: [UInt8]) {
        guard publicKey.count == publicKeyLength else { throw .publicKeyLength(publicKey.count) }
        let mlkemPart = publicKey[0..<mlkemPublicKeyLength]
        let recipientPoint = Array(publicKey[mlkemPublicKeyLength...])
        let recipient: MLKEM1024.PublicKey
        let point: P384.KeyAgreement.PublicKey
        do { recipient = try MLKEM1024.PublicKey(rawRepresentation: mlkemPart) } catch { throw .invalidMLKEMKey }
        do { point = try P384.KeyAgreement.PublicKey(x963Representation: recipientPoint) } catch { throw .invalidPoint }
        let encapsulated: KEM.EncapsulationResult
        let ephemeral = P384.KeyAgreement.PrivateKey()
        let x: [UInt8]
        do {
            encapsulated = try recipient.encapsulate()
            x = try ephemeral.sharedSecretFromKeyAgreement(with: point).withUnsafeBytes { Array($0) }
        } catch {
            throw .invalidPoint
        }
        let ephemeralPoint = Array(ephemeral.publicKey.x963Representation)
        let mlkemSecret = encapsulated.sharedSecret.withUnsafeBytes { Array($0) }
        return (
            combine(mlkemSecret, x, ephemeralPoint, recipientPoint), Array(encapsulated.encapsulated) + ephemeralPoint
        )
    }

    static func combine(_ mlkemSecret: [UInt8], _ x: [UInt8], _ ciphertextPoint: [UInt8], _ recipientPoint: [UInt8]) -> [UInt8] {
        Array(SHA3_256.hash(data: mlkemSecret + x + ciphertextPoint + recipientPoint + label))
    }

    /// The initiator's key: a 32-byte seed expanded with SHAKE256 into the ML-KEM-1024 seed and the P-384 scalar.
    struct PrivateKey {
        let seed: [UInt8]
        private let mlkem: MLKEM1024.PrivateKey
        private let scalar: P384.KeyAgreement.PrivateKey

        init(seed: [UInt8]) throws(KEMError) {
            guard seed.count == HybridKEM.seedLength else { throw .seedLength(seed.count) }
            let expanded = SHAKE256.hash(seed, outputLength: 64 + 48)
            let candidate = Array(expanded[64..<112])
            // Group.RandomScalar with one candidate: 0 or ≥ the order happens with probability < 2^-192.
            guard candidate.contains(where: { $0 != 0 }), candidate.lexicographicallyPrecedes(HybridKEM.p384Order) else {
                throw .scalarRejected
            }
            do {
                mlkem = try MLKEM1024.PrivateKey(seedRepresentation: expanded[0..<64], publicKey: nil)
                scalar = try P384.KeyAgreement.PrivateKey(rawRepresentation: candidate)
            } catch {
                throw .scalarRejected
            }
            self.seed = seed
        }

        static func generate() throws(KEMError) -> PrivateKey {
            var generator = SystemRandomNumberGenerator()
            return try PrivateKey(seed: (0..<HybridKEM.seedLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }

        var publicKey: [UInt8] { Array(mlkem.publicKey.rawRepresentation) + Array(scalar.publicKey.x963Representation) }

        func decapsulate(_ encapsulation: [UInt8]) throws(KEMError) -> [UInt8] {
            guard encapsulation.count == HybridKEM.encapsulationLength else { throw .encapsulationLength(encapsulation.count) }
            let ciphertextPoint = Array(encapsulation[HybridKEM.mlkemCiphertextLength...])
            let point: P384.KeyAgreement.PublicKey
            do { point = try P384.KeyAgreement.PublicKey(x963Representation: ciphertextPoint) } catch { throw .invalidPoint }
            do {
                let mlkemSecret = try mlkem.decapsulate(encapsulation[0..<HybridKEM.mlkemCiphertextLength]).withUnsafeBytes { Array($0) }
                let x = try scalar.sharedSecretFromKeyAgreement(with: point).withUnsafeBytes { Array($0) }
                return HybridKEM.combine(mlkemSecret, x, ciphertextPoint, Array(scalar.publicKey.x963Representation))
            } catch {
                throw .invalidPoint
            }
        }
    }
}
