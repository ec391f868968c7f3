import CSecp256k1
import Foundation

/// BIP-340 Schnorr signatures over secp256k1 (Debian's libsecp256k1): verification for incoming events, and
/// signing for tests and tools that make events.
public final class SchnorrVerifier: @unchecked Sendable {
    // A libsecp256k1 context is safe for concurrent use once created, except for randomization, which is
    // done once here before the context is shared.
    private let context: OpaquePointer

    public static let shared = SchnorrVerifier()

    private init() {
        // SECP256K1_CONTEXT_NONE: the only flag value libsecp256k1 0.2 still distinguishes (a C macro).
        guard let context = secp256k1_context_create(UInt32(1)) else { fatalError("libsecp256k1 could not allocate a context") }
        var seed = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in seed.indices { seed[index] = UInt8.random(in: 0...255, using: &generator) }
        _ = secp256k1_context_randomize(context, seed)
        self.context = context
    }

    /// Whether `signature` (64 bytes) signs `message` under the 32-byte x-only key.
    public func verify(signature: [UInt8], message: [UInt8], xOnlyPublicKey: [UInt8]) -> Bool {
        guard signature.count == 64, xOnlyPublicKey.count == 32 else { return false }
        var key = secp256k1_xonly_pubkey()
        guard secp256k1_xonly_pubkey_parse(context, &key, xOnlyPublicKey) == 1 else { return false }
        return secp256k1_schnorrsig_verify(context, signature, message, message.count, &key) == 1
    }

    /// The x-only public key of a 32-byte secret key; nil for an invalid key.
    public func publicKey(secretKey: [UInt8]) -> [UInt8]? {
        guard var keypair = keypair(secretKey) else { return nil }
        var key = secp256k1_xonly_pubkey()
        var output = [UInt8](repeating: 0, count: 32)
        guard secp256k1_keypair_xonly_pub(context, &key, nil, &keypair) == 1,
            secp256k1_xonly_pubkey_serialize(context, &output, &key) == 1
        else { return nil }
        return output
    }

    /// A BIP-340 signature of a 32-byte message with fresh auxiliary randomness.
    public func sign(message: [UInt8], secretKey: [UInt8]) -> [UInt8]? {
        guard message.count == 32, var keypair = keypair(secretKey) else { return nil }
        var auxiliary = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in auxiliary.indices { auxiliary[index] = UInt8.random(in: 0...255, using: &generator) }
        var signature = [UInt8](repeating: 0, count: 64)
        guard secp256k1_schnorrsig_sign32(context, &signature, message, &keypair, auxiliary) == 1 else { return nil }
        return signature
    }

    private func keypair(_ secretKey: [UInt8]) -> secp256k1_keypair? {
        guard secretKey.count == 32 else { return nil }
        var keypair = secp256k1_keypair()
        return secp256k1_keypair_create(context, &keypair, secretKey) == 1 ? keypair : nil
    }
}
