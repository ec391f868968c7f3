import Crypto
import Foundation
import SwiftProtobuf
import WharfProto

/// One protocol-3 stream's encryption, apart from I/O (spec §16a, steps 1–2): the key exchange in the clear
/// (the client's `establish_shared_secret` with its KEM public key, the hub's with the encapsulation), then every
/// item sealed as `encrypted{nonce, ciphertext}` with one key per direction. The transcript of the exchange is what
/// both handshakes sign.
public struct Protocol3Channel: Sendable {
    public typealias Item = Wharf_Backrest_Protocol3_SyncStreamItem
    /// The transport's version in `establish_shared_secret` (not the sync protocol's, which is 3).
    static let transportVersion: UInt32 = 1

    public enum ChannelError: Error, Equatable, CustomStringConvertible {
        case expectedKeyExchange(received: String)
        case transportVersion(UInt32)
        /// What was wrong with the KEM key or encapsulation (`HybridKEM.KEMError`'s description).
        case kem(String)
        /// What was wrong with a frame (`SessionFrameCipher.FrameError`'s description).
        case frame(String)
        case expectedEncrypted(received: String)
        case innerItem(String)

        public var description: String {
            switch self {
            case .expectedKeyExchange(let received):
                "expected KEM key exchange (establish_shared_secret with kem_public_key) as the first message, got \(received)"
            case .transportVersion(let version):
                "unsupported transport protocol version \(version) in establish_shared_secret; this hub speaks 1"
            case .kem(let problem): "key exchange failed: \(problem)"
            case .frame(let problem): problem
            case .expectedEncrypted(let received): "after the key exchange every message must be encrypted, got \(received)"
            case .innerItem(let problem): "decrypted message is not a sync stream item: \(problem)"
            }
        }
    }

    private var receiving: SessionFrameCipher
    private var sending: SessionFrameCipher
    /// SHA-256 over both KEM messages: what each side's handshake signature binds to this connection.
    public let transcript: [UInt8]

    private init(receivingKey: SymmetricKey, sendingKey: SymmetricKey, transcript: [UInt8], maximumItemBytes: Int) {
        let frameLimit = maximumItemBytes.addingClamped(SessionFrameCipher.tagLength)
        receiving = SessionFrameCipher(key: receivingKey, maximumFrameBytes: frameLimit)
        sending = SessionFrameCipher(key: sendingKey, maximumFrameBytes: frameLimit)
        self.transcript = transcript
    }

    /// The hub's side: answers the client's first item (its KEM public key) with an encapsulation to it.
    public static func respond(to first: Item, maximumItemBytes: Int) throws(ChannelError) -> (channel: Protocol3Channel, reply: Item) {
        guard case .establishSharedSecret(let exchange)? = first.action, !exchange.kemPublicKey.isEmpty else {
            throw .expectedKeyExchange(received: Self.describe(first))
        }
        guard exchange.protocolVersion == transportVersion else { throw .transportVersion(exchange.protocolVersion) }
        let publicKey = Array(exchange.kemPublicKey)
        let (sharedSecret, encapsulation): ([UInt8], [UInt8])
        do {
            (sharedSecret, encapsulation) = try HybridKEM.encapsulate(to: publicKey)
        } catch {
            throw .kem(error.description)
        }
        let keys = TransportKeys(sharedSecret: sharedSecret)
        let transcript: [UInt8]
        do {
            transcript = try Protocol3Handshake.transcript(kemPublicKey: publicKey, kemEncapsulation: encapsulation)
        } catch {
            throw .kem(error.description)  // unreachable: the key's length was checked
        }
        let channel = Protocol3Channel(
            receivingKey: keys.initiatorToResponder, sendingKey: keys.responderToInitiator, transcript: transcript,
            maximumItemBytes: maximumItemBytes)
        let reply = Item.with {
            $0.establishSharedSecret = .with {
                $0.protocolVersion = transportVersion
                $0.kemEncapsulation = Data(encapsulation)
            }
        }
        return (channel, reply)
    }

    /// A client's side (test clients and benchmarks): its first item, then `complete(reply:)` with the hub's.
    public struct Initiator {
        let key: HybridKEM.PrivateKey
        let publicKey: [UInt8]

        public init() throws {
            key = try HybridKEM.PrivateKey.generate()
            publicKey = key.publicKey
        }

        public var first: Item {
            .with {
                $0.establishSharedSecret = .with {
                    $0.protocolVersion = Protocol3Channel.transportVersion
                    $0.kemPublicKey = Data(publicKey)
                }
            }
        }

        public func complete(reply: Item, maximumItemBytes: Int = 4 << 20) throws -> Protocol3Channel {
            guard case .establishSharedSecret(let exchange)? = reply.action, !exchange.kemEncapsulation.isEmpty else {
                throw ChannelError.expectedKeyExchange(received: Protocol3Channel.describe(reply))
            }
            guard exchange.protocolVersion == Protocol3Channel.transportVersion else {
                throw ChannelError.transportVersion(exchange.protocolVersion)
            }
            let encapsulation = Array(exchange.kemEncapsulation)
            let keys = TransportKeys(sharedSecret: try key.decapsulate(encapsulation))
            return Protocol3Channel(
                receivingKey: keys.responderToInitiator, sendingKey: keys.initiatorToResponder,
                transcript: try Protocol3Handshake.transcript(kemPublicKey: publicKey, kemEncapsulation: encapsulation),
                maximumItemBytes: maximumItemBytes)
        }
    }

    /// Seals `inner` as the next frame.
    public mutating func seal(_ inner: Item) throws -> Item {
        try seal(serialized: try inner.serializedBytes())
    }

    /// Seals bytes as they are (a test client's hostile item, which may not even parse).
    public mutating func seal(serialized inner: [UInt8]) throws -> Item {
        let (nonce, ciphertext) = try sending.seal(inner)
        return .with {
            $0.encrypted = .with {
                $0.nonce = Data(nonce)
                $0.ciphertext = Data(ciphertext)
            }
        }
    }

    /// Opens the next frame: it must be `encrypted`, carry the nonce expected next, authenticate, and hold an
    /// item that is not itself part of the transport (a nested `encrypted` or a second key exchange).
    public mutating func open(_ outer: Item) throws(ChannelError) -> Item {
        guard case .encrypted(let frame)? = outer.action else { throw .expectedEncrypted(received: Self.describe(outer)) }
        let plaintext: [UInt8]
        do {
            plaintext = try receiving.open(nonce: Array(frame.nonce), ciphertext: Array(frame.ciphertext))
        } catch {
            throw .frame(error.description)
        }
        let inner: Item
        do {
            inner = try Item(serializedBytes: plaintext)
        } catch {
            throw .innerItem("\(error)")
        }
        switch inner.action {
        case .encrypted?, .establishSharedSecret?: throw .innerItem("\(Self.describe(inner)) inside the encryption")
        default: return inner
        }
    }

    public static func describe(_ item: Item) -> String {
        switch item.action {
        case .signedMessage?: "signed_message"
        case .establishSharedSecret?: "establish_shared_secret"
        case .handshake?: "handshake"
        case .heartbeat?: "heartbeat"
        case .encrypted?: "encrypted"
        case .operationManifest?: "operation_manifest"
        case .receiveOperations?: "receive_operations"
        case .requestOperationData?: "request_operation_data"
        case .receiveConfig?: "receive_config"
        case .setConfig?: "set_config"
        case .requestResources?: "request_resources"
        case .receiveResources?: "receive_resources"
        case .requestLog?: "request_log"
        case .receiveLogData?: "receive_log_data"
        case .throttle?: "throttle"
        case nil: "an item with no known action"
        }
    }
}
