import Crypto
import Foundation
import GRPCCore
import GRPCProtobuf
import WharfProto

/// A backrest 1.13+ client's identity (spec §16a): an ed25519 key and an instance id. For test clients and
/// benchmarks (public for the Benchmarks package); the hub never plays the client.
public struct Protocol3ClientIdentity: Sendable {
    public let key: Curve25519.Signing.PrivateKey
    public let instanceID: String

    public init(instanceID: String, key: Curve25519.Signing.PrivateKey = .init()) {
        self.instanceID = instanceID
        self.key = key
    }

    public var keyid: String { Protocol3Handshake.keyid(of: key.publicKey) }

    /// Its handshake over `transcript`; `instanceID` claims another instance than its own (refusal tests).
    public func handshake(transcript: [UInt8], pairingSecret: String = "", instanceID claimed: String? = nil) throws
        -> Protocol3Channel.Item
    {
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
}

/// One protocol-3 Sync stream driven as a 1.14 client drives it, over any transport that sends and receives whole
/// items: the key exchange in the clear, then encrypted items. Used by one task at a time (a caller may hand it to
/// another task while it waits itself).
public final class Protocol3ClientSession: @unchecked Sendable {
    public typealias Item = Protocol3Channel.Item

    /// Sends an item as it is (the key exchange in the clear, or a frame the caller made itself).
    public let sendRaw: (Item) async throws -> Void
    /// The next item as it came (nil at the end of the stream).
    public let receiveRaw: () async throws -> Item?
    /// Ends the client's side of the stream (the hub then ends the call once it has acted on everything before).
    public let finishSending: () -> Void
    public var channel: Protocol3Channel?

    public struct SessionError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(
        send: @escaping (Item) async throws -> Void, receive: @escaping () async throws -> Item?, finish: @escaping () -> Void = {}
    ) {
        sendRaw = send
        receiveRaw = receive
        finishSending = finish
    }

    /// Sends the client's KEM public key and completes the exchange with the hub's answer; the transcript.
    @discardableResult
    public func exchangeKeys() async throws -> [UInt8] {
        let initiator = try Protocol3Channel.Initiator()
        try await sendRaw(initiator.first)
        guard let reply = try await receiveRaw() else { throw SessionError(description: "the hub ended the stream during the key exchange") }
        let channel = try initiator.complete(reply: reply)
        self.channel = channel
        return channel.transcript
    }

    public func sendEncrypted(_ inner: Item) async throws {
        guard var channel else { throw SessionError(description: "no key exchange yet") }
        let frame = try channel.seal(inner)
        self.channel = channel
        try await sendRaw(frame)
    }

    /// The next decrypted item that is not a heartbeat.
    public func next() async throws -> Item? {
        while let outer = try await receiveRaw() {
            guard var channel else { throw SessionError(description: "no key exchange yet") }
            let inner = try channel.open(outer)
            self.channel = channel
            if case .heartbeat? = inner.action { continue }
            return inner
        }
        return nil
    }

    /// Key exchange and both handshakes; returns the hub's handshake, verified against the transcript.
    public func connect(as identity: Protocol3ClientIdentity, pairingSecret: String = "", instanceID: String? = nil) async throws
        -> Item.SyncActionHandshake
    {
        let transcript = try await exchangeKeys()
        try await sendEncrypted(try identity.handshake(transcript: transcript, pairingSecret: pairingSecret, instanceID: instanceID))
        guard let item = try await next(), case .handshake(let handshake)? = item.action else {
            throw SessionError(description: "the hub's first encrypted item is not a handshake")
        }
        _ = try Protocol3Handshake.verify(
            keyid: handshake.publicKey.keyid, publicKeyText: handshake.publicKey.ed25519Pub, instanceID: handshake.instanceID,
            pairingSecret: handshake.pairingSecret, signature: Array(handshake.signature), transcript: transcript)
        return handshake
    }
}

/// Runs one protocol-3 stream against the hub behind `client`: the same path as protocol 1, its own schema.
public func withProtocol3Session<T: Sendable, Transport: ClientTransport>(
    _ client: GRPCClient<Transport>, _ body: @escaping @Sendable (Protocol3ClientSession) async throws -> T
) async throws -> T {
    let (outgoing, send) = AsyncStream.makeStream(of: Protocol3Channel.Item.self)
    let (writerEnded, endWriter) = AsyncStream.makeStream(of: Never.self)
    defer { send.finish() }
    return try await client.bidirectionalStreaming(
        request: StreamingClientRequest<Protocol3Channel.Item> { writer in
            defer { endWriter.finish() }
            for await item in outgoing { try await writer.write(item) }
        },
        descriptor: V1sync_BackrestSyncService.Method.Sync.descriptor, serializer: ProtobufSerializer<Protocol3Channel.Item>(),
        deserializer: ProtobufDeserializer<Protocol3Channel.Item>(), options: .defaults
    ) { response in
        var incoming = response.messages.makeAsyncIterator()
        let io = Protocol3ClientSession(send: { send.yield($0) }, receive: { try await incoming.next() }, finish: { send.finish() })
        let result: Result<T, any Error>
        do {
            result = .success(try await body(io))
        } catch {
            result = .failure(error)
        }
        // The request side ends before the call does: grpc-swift-nio-transport traps ("Client is closed, cannot send
        // a message") on a write still queued when the call is torn down.
        send.finish()
        for await _ in writerEnded {}
        return try result.get()
    }
}
