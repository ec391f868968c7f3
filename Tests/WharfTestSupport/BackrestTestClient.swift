import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SyncCore
import WharfProto

/// One Sync stream as a backrest client drives it: items sent when the test says, answers read one by one.
public final class HubSessionIO {
    public let send: AsyncStream<V1sync_SyncStreamItem>.Continuation
    public var incoming: RPCAsyncSequence<V1sync_SyncStreamItem, any Error>.AsyncIterator

    public init(send: AsyncStream<V1sync_SyncStreamItem>.Continuation, incoming: RPCAsyncSequence<V1sync_SyncStreamItem, any Error>.AsyncIterator) {
        self.send = send
        self.incoming = incoming
    }

    /// The next item that is not a heartbeat.
    public func next() async throws -> V1sync_SyncStreamItem? {
        while let item = try await incoming.next() {
            if case .heartbeat? = item.action { continue }
            return item
        }
        return nil
    }
}

public func withHubSession<T: Sendable>(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ body: @escaping @Sendable (HubSessionIO) async throws -> T
)
    async throws -> T
{
    let (outgoing, send) = AsyncStream.makeStream(of: V1sync_SyncStreamItem.self)
    defer { send.finish() }
    return try await V1sync_BackrestSyncService.Client(wrapping: client).sync(
        request: StreamingClientRequest { writer in
            for await item in outgoing { try await writer.write(item) }
        }
    ) { response in
        let io = HubSessionIO(send: send, incoming: response.messages.makeAsyncIterator())
        defer { send.finish() }
        return try await body(io)
    }
}

public struct BackrestClientIdentity: Sendable {
    public let identity = BackrestIdentity.generate()
    public let instanceID: String

    public init(instanceID: String) {
        self.instanceID = instanceID
    }

    public func handshake(payload: String? = nil, at date: Date = Date(), keyid: String? = nil) throws -> V1sync_SyncStreamItem {
        let signed = try identity.signedMessage(payload: Data((payload ?? instanceID).utf8), at: date)
        return .with {
            $0.handshake = .with {
                $0.protocolVersion = 1
                $0.publicKey = identity.publicKey.proto
                if let keyid { $0.publicKey.keyid = keyid }
                $0.instanceID = signed
            }
        }
    }

    public func operation(_ id: Int64, flow: Int64, modno: Int64, message: String = "") -> V1_Operation {
        backrestTestOperation(id, flow: flow, modno: modno, instanceID: instanceID, message: message)
    }
}

/// A finished backup of plan "daily" in repo1 as a backrest client of `instanceID` reports it (the hub tests' data).
public func backrestTestOperation(_ id: Int64, flow: Int64, modno: Int64, instanceID: String, message: String = "") -> V1_Operation {
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

public func created(_ operations: [V1_Operation]) -> V1sync_SyncStreamItem {
    .with { $0.receiveOperations = .with { $0.event = .with { $0.createdOperations = .with { $0.operations = operations } } } }
}
