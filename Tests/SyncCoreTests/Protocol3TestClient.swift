import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Testing
import WharfProto
import WharfRuntime

@testable import SyncCore

typealias P3Item = Wharf_Backrest_Protocol3_SyncStreamItem

/// A backrest 1.13+ client's identity, written from spec §16a: an ed25519 key and an instance id.
struct Protocol3ClientIdentity: Sendable {
    let key = Curve25519.Signing.PrivateKey()
    let instanceID: String

    var keyid: String { Protocol3Handshake.keyid(of: key.publicKey) }

    func handshake(transcript: [UInt8], pairingSecret: String = "", instanceID claimed: String? = nil) throws -> P3Item {
        let instance = claimed ?? instanceID
        let signature = try Protocol3Handshake.sign(with: key, instanceID: instance, pairingSecret: pairingSecret, transcript: transcript)
        return .with {
            $0.handshake = .with {
                $0.protocolVersion = 3
                $0.publicKey = .with {
                    $0.keyid = keyid
                    $0.ed25519Pub = Protocol3Handshake.publicKeyText(key.publicKey)
                }
                $0.instanceID = instance
                $0.pairingSecret = pairingSecret
                $0.signature = Data(signature)
            }
        }
    }

    func operation(_ id: Int64, flow: Int64, modno: Int64, message: String = "") -> V1_Operation {
        .with {
            $0.id = id
            $0.flowID = flow
            $0.modno = modno
            $0.instanceID = instanceID
            $0.repoID = "repo1"
            $0.repoGuid = "guid-repo1"
            $0.planID = "daily"
            $0.unixTimeStartMs = 1_762_000_000_000 + id
            $0.status = .statusSuccess
            $0.displayMessage = message
        }
    }
}

/// One protocol-3 Sync stream as a 1.14 client drives it: the same path, its own schema; items sent when the test
/// says, answers read one by one, encrypted once the key exchange is done. Used by one task at a time (a test
/// may hand it to another task while it waits itself).
final class Protocol3SessionIO: @unchecked Sendable {
    /// Sends an item as it is (the key exchange in the clear, or a frame the test made itself).
    let sendRaw: (P3Item) async throws -> Void
    /// The next item as it came (nil at the end of the stream).
    let receiveRaw: () async throws -> P3Item?
    var channel: Protocol3Channel?

    init(send: @escaping (P3Item) async throws -> Void, receive: @escaping () async throws -> P3Item?) {
        sendRaw = send
        receiveRaw = receive
    }

    /// Sends the client's KEM public key and completes the exchange with the hub's answer; the transcript.
    @discardableResult
    func exchangeKeys() async throws -> [UInt8] {
        let initiator = try Protocol3Channel.Initiator()
        try await sendRaw(initiator.first)
        guard let reply = try await receiveRaw() else { throw HubTestError("the hub ended the stream during the key exchange") }
        let channel = try initiator.complete(reply: reply)
        self.channel = channel
        return channel.transcript
    }

    func sendEncrypted(_ inner: P3Item) async throws {
        guard var channel else { throw HubTestError("no key exchange yet") }
        let frame = try channel.seal(inner)
        self.channel = channel
        try await sendRaw(frame)
    }

    /// The next decrypted item that is not a heartbeat.
    func next() async throws -> P3Item? {
        while let outer = try await receiveRaw() {
            guard var channel else { throw HubTestError("no key exchange yet") }
            let inner = try channel.open(outer)
            self.channel = channel
            if case .heartbeat? = inner.action { continue }
            return inner
        }
        return nil
    }

    /// Key exchange and both handshakes; returns the hub's handshake (already verified against the transcript).
    func connect(as identity: Protocol3ClientIdentity, pairingSecret: String = "", instanceID: String? = nil) async throws
        -> P3Item.SyncActionHandshake
    {
        let transcript = try await exchangeKeys()
        try await sendEncrypted(try identity.handshake(transcript: transcript, pairingSecret: pairingSecret, instanceID: instanceID))
        guard let item = try await next(), case .handshake(let handshake)? = item.action else {
            throw HubTestError("the hub's first encrypted item is not a handshake")
        }
        _ = try Protocol3Handshake.verify(
            keyid: handshake.publicKey.keyid, publicKeyText: handshake.publicKey.ed25519Pub, instanceID: handshake.instanceID,
            pairingSecret: handshake.pairingSecret, signature: Array(handshake.signature), transcript: transcript)
        return handshake
    }
}

/// Runs one protocol-3 stream against the hub at `client`.
func withProtocol3Session<T: Sendable>(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ body: @escaping @Sendable (Protocol3SessionIO) async throws -> T
) async throws -> T {
    let (outgoing, send) = AsyncStream.makeStream(of: P3Item.self)
    defer { send.finish() }
    return try await client.bidirectionalStreaming(
        request: StreamingClientRequest<P3Item> { writer in
            for await item in outgoing { try await writer.write(item) }
        },
        descriptor: V1sync_BackrestSyncService.Method.Sync.descriptor, serializer: ProtobufSerializer<P3Item>(),
        deserializer: ProtobufDeserializer<P3Item>(), options: .defaults
    ) { response in
        var incoming = response.messages.makeAsyncIterator()
        let io = Protocol3SessionIO(send: { send.yield($0) }, receive: { try await incoming.next() })
        defer { send.finish() }
        return try await body(io)
    }
}

func received(_ operations: [V1_Operation]) -> P3Item {
    .with { $0.receiveOperations = .with { $0.event = .with { $0.updatedOperations = .with { $0.operations = operations } } } }
}

func manifest(_ entries: [(id: Int64, modno: Int64)]) -> P3Item {
    .with {
        $0.operationManifest = .with {
            $0.opIds = entries.map(\.id)
            $0.modnos = entries.map(\.modno)
        }
    }
}
