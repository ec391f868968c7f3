import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NegentropyProtocol
import ServiceContracts
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import WharfProto
import WharfRuntime

/// This node's store and routing services as the sync service uses them, over their RPCs only: records and
/// referrers are pushed to the store, mirrored records published in routing, registry credentials issued by
/// the store (with the admin token), and the local CID set reconciled through the store's Initiate.
public final class LocalDirectory: Service, Sendable {
    let store: GRPCClient<HTTP2ClientTransport.Posix>
    let routing: GRPCClient<HTTP2ClientTransport.Posix>
    static let callOptions = {
        var options = CallOptions.defaults; options.timeout = .seconds(30); options.waitForReady = true; return options
    }()

    public init(settings: SyncSettings, adminToken: SharedSecret?) throws {
        func client(_ address: HostPort, admin: Bool) throws -> GRPCClient<HTTP2ClientTransport.Posix> {
            let transport = try HTTP2ClientTransport.Posix(
                target: .dns(host: address.host, port: address.port), transportSecurity: .plaintext,
                config: .defaults { $0.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2) })
            let interceptors: [any ClientInterceptor] = admin ? adminToken.map { [AdminTokenClientInterceptor(token: $0)] } ?? [] : []
            return GRPCClient(transport: transport, interceptors: interceptors)
        }
        store = try client(settings.store, admin: true)
        routing = try client(settings.routing, admin: false)
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.store.runConnections() }
                group.addTask { try await self.routing.runConnections() }
            }
        } onGracefulShutdown: {
            self.store.beginGracefulShutdown()
            self.routing.beginGracefulShutdown()
        }
    }

    /// Read-only registry credentials for `nodeID`, from the local store.
    func issueCredentials(nodeID: String, ttl: Duration) async throws -> Wharf_Store_V1_IssuedCredentials {
        try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: store).issue(
            .with {
                $0.nodeID = nodeID; $0.ttlSeconds = UInt32(clamping: ttl.components.seconds)
            }, options: Self.callOptions)
    }

    func revokeCredentials(nodeID: String) async throws -> UInt32 {
        try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: store).revoke(.with { $0.nodeID = nodeID }, options: Self.callOptions).revoked
    }

    /// Who answers the local store's reconciliation: the remote store, or a set held here (a listed sync,
    /// a remote's tag list).
    enum Responder: Sendable {
        case remote(RemoteDirectory)
        case set(Negentropy<SortedItems>)
    }

    /// The difference between the local store's CID set and the responder's: the local store initiates a
    /// negentropy reconciliation (Initiate) whose messages are relayed to the responder and back. Returns
    /// the CIDs only the responder has (`need`) and the bytes exchanged.
    func difference(with responder: Responder) async throws -> (need: [String], bytes: Int) {
        let (toResponder, toResponderInput) = AsyncStream.makeStream(of: Data.self)
        let (fromResponder, fromResponderInput) = AsyncStream.makeStream(of: Data.self)
        // The responder's failure (a remote that is no Wharf node answers UNIMPLEMENTED) is the one to report,
        // not the local stream's end that it causes.
        let responderFailure = FirstFailure()
        do {
            return try await reconcile(responder, toResponder, toResponderInput, fromResponder, fromResponderInput, responderFailure)
        } catch {
            throw responderFailure.error ?? error
        }
    }

    private func reconcile(
        _ responder: Responder, _ toResponder: AsyncStream<Data>, _ toResponderInput: AsyncStream<Data>.Continuation,
        _ fromResponder: AsyncStream<Data>, _ fromResponderInput: AsyncStream<Data>.Continuation,
        _ responderFailure: FirstFailure
    ) async throws -> (need: [String], bytes: Int) {
        try await withThrowingTaskGroup(of: (need: [String], bytes: Int)?.self) { group in
            group.addTask {
                do {
                    switch responder {
                    case .remote(let remote):
                        try await remote.reconcile(toResponder, replies: fromResponderInput)
                    case .set(let negentropy):
                        defer { fromResponderInput.finish() }
                        for await message in toResponder {
                            fromResponderInput.yield(Data(try negentropy.reconcileAsResponder(Array(message), differences: false).reply))
                        }
                    }
                } catch {
                    responderFailure.record(error)
                    throw error
                }
                return nil
            }
            group.addTask { [store] in
                try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: store).initiate(
                    request: StreamingClientRequest { writer in
                        try await writer.write(.init())
                        for await reply in fromResponder { try await writer.write(.with { $0.negentropy = reply }) }
                    }, options: Self.callOptions
                ) { response in
                    defer { toResponderInput.finish() }
                    var need: [String] = []
                    var bytes = 0
                    for try await step in response.messages {
                        need += step.needCids
                        guard step.roundComplete else { continue }
                        if step.done { return (need, bytes) }
                        bytes += step.negentropy.count
                        toResponderInput.yield(step.negentropy)
                    }
                    throw RPCError(code: .unavailable, message: "the reconciliation ended before it was complete")
                }
            }
            var result: (need: [String], bytes: Int)?
            for try await outcome in group {
                if let outcome { result = outcome }
            }
            guard let result else { throw RPCError(code: .unavailable, message: "the reconciliation ended before it was complete") }
            return result
        }
    }

    /// Records per ImportRecords message, and the size a message is kept under (one larger record goes alone).
    static let importBatch = 1_000
    static let importMessageBytes = 1024 * 1024
    /// A record whose canonical JSON is larger than this is pushed with StoreService's Push instead: alone in an
    /// ImportRecords message it could exceed the store's gRPC message limit, which its protobuf form does not.
    static let largestImportedRecord = 3 * 1024 * 1024

    /// Stores verified records with their referrers (each record committed with its referrers); returns the
    /// CIDs the store holds afterwards, and the store's refusals (with the status Push would have given).
    func importRecords(_ records: [Wharf_Store_V1_TransferredRecord]) async throws -> (stored: [String], refused: [Wharf_Store_V1_ImportOutcome]) {
        let large = records.filter { $0.canonicalJson.count > Self.largestImportedRecord }
        let messages = Wharf_Store_V1_TransferredRecord.batches(
            records.filter { $0.canonicalJson.count <= Self.largestImportedRecord },
            maximumBytes: Self.importMessageBytes, maximumCount: Self.importBatch)
        var outcomes: [Wharf_Store_V1_ImportOutcome] = []
        if !messages.isEmpty {
            let messages = messages
            outcomes = try await Wharf_Store_V1_RecordTransfer.Client(wrapping: store).importRecords(
                request: StreamingClientRequest { writer in
                    for message in messages { try await writer.write(.with { $0.records = message }) }
                }, options: Self.callOptions
            ) { response in try await response.messages.reduce(into: [Wharf_Store_V1_ImportOutcome]()) { $0 += $1.outcomes } }
            guard outcomes.count == records.count - large.count else {
                throw RPCError(code: .unavailable, message: "the store answered \(outcomes.count) of \(records.count - large.count) imports")
            }
        }
        var stored = outcomes.filter { $0.code == 0 }.map(\.cid)
        if !large.isEmpty { stored += try await pushLarge(large) }
        return (stored, outcomes.filter { $0.code != 0 })
    }

    /// Records too large for an import message: pushed, then their referrers.
    private func pushLarge(_ records: [Wharf_Store_V1_TransferredRecord]) async throws -> [String] {
        var decoded: [Agntcy_Dir_Core_V1_Record] = []
        var referrers: [Agntcy_Dir_Store_V1_PushReferrerRequest] = []
        for record in records {
            guard let data = try? Google_Protobuf_Struct(jsonUTF8Data: record.canonicalJson) else { continue }
            decoded.append(.with { $0.data = data })
            let reference = Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = record.cid }
            if !record.signature.isEmpty {
                referrers.append(
                    .with {
                        $0.recordRef = reference
                        $0.signature = .with {
                            $0.signature = record.signature; $0.annotations = ["payload": record.signaturePayload]
                        }
                    })
            }
            if !record.publicKey.isEmpty {
                referrers.append(
                    .with {
                        $0.recordRef = reference; $0.publicKey = record.publicKey
                    })
            }
        }
        let pushed = try await push(decoded)
        try await pushReferrers(referrers)
        return pushed
    }

    /// Push streams one copy batch is spread over: each Push answer follows its own commit, so one stream
    /// is bound by commit latency, and several keep the store's connection pool busy.
    static let pushStreams = 8

    /// Pushes verified records over a few concurrent streams; returns the CIDs the store acknowledged.
    func push(_ records: [Agntcy_Dir_Core_V1_Record]) async throws -> [String] {
        guard !records.isEmpty else { return [] }
        let client = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: store)
        let share = (records.count + Self.pushStreams - 1) / Self.pushStreams
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for start in stride(from: 0, to: records.count, by: max(share, 1)) {
                let part = records[start..<min(start + share, records.count)]
                group.addTask {
                    try await client.push(
                        request: StreamingClientRequest { writer in
                            for record in part { try await writer.write(record) }
                        }, options: Self.callOptions
                    ) { response in try await response.messages.reduce(into: [String]()) { $0.append($1.cid) } }
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
    }

    func pushReferrers(_ requests: [Agntcy_Dir_Store_V1_PushReferrerRequest]) async throws {
        guard !requests.isEmpty else { return }
        _ = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: store).pushReferrer(
            request: StreamingClientRequest { writer in
                for request in requests { try await writer.write(request) }
            }, options: Self.callOptions
        ) { response in try await response.messages.reduce(0) { count, _ in count + 1 } }
    }

    /// CIDs per PublishMany request (routing's maximum).
    static let publishBatch = 1_000
    /// PublishMany, until this node's routing answers UNIMPLEMENTED (an older routing): then records are
    /// published one Publish at a time.
    private let publishMany = OptionalRPC()

    /// Publishes `cids` in this node's routing; returns those routing did not publish, with the status
    /// Publish gives them (a record whose labels are over routing's limits, one deleted meanwhile). Anything
    /// else (routing or its store unavailable) is thrown.
    func publish(_ cids: [String]) async throws -> [Wharf_Routing_V1_PublishOutcome] {
        guard !cids.isEmpty else { return [] }
        return try await publishMany.call(
            {
                let outcomes = try await Wharf_Routing_V1_RecordPublishing.Client(wrapping: routing).publishMany(
                    request: StreamingClientRequest { writer in
                        for start in stride(from: 0, to: cids.count, by: Self.publishBatch) {
                            try await writer.write(.with { $0.recordCids = Array(cids[start..<min(start + Self.publishBatch, cids.count)]) })
                        }
                    }, options: Self.callOptions
                ) { response in try await response.messages.reduce(into: [Wharf_Routing_V1_PublishOutcome]()) { $0 += $1.outcomes } }
                guard outcomes.count == cids.count else {
                    throw RPCError(code: .unavailable, message: "routing answered \(outcomes.count) of \(cids.count) publications")
                }
                return outcomes.filter { $0.code != 0 }
            }, otherwise: { try await publishEach(cids) })
    }

    /// Publish calls in flight at once when publishing one record per call.
    static let publishConcurrency = 16

    private func publishEach(_ cids: [String]) async throws -> [Wharf_Routing_V1_PublishOutcome] {
        let client = Routing_V1_RoutingService.Client(wrapping: routing)
        return try await withThrowingTaskGroup(of: Wharf_Routing_V1_PublishOutcome?.self) { group in
            var refused: [Wharf_Routing_V1_PublishOutcome] = []
            for (index, cid) in cids.enumerated() {
                if index >= Self.publishConcurrency, let outcome = try await group.next() { outcome.map { refused.append($0) } }
                group.addTask {
                    do {
                        _ = try await client.publish(.with { $0.recordCid = cid }, options: Self.callOptions)
                        return nil
                    } catch let error as RPCError where error.code == .invalidArgument || error.code == .notFound {
                        return .with {
                            $0.recordCid = cid; $0.code = Int32(error.code.rawValue); $0.message = error.message
                        }
                    }
                }
            }
            for try await outcome in group { outcome.map { refused.append($0) } }
            return refused
        }
    }
}

/// The first error one side of a relay hit.
final class FirstFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) {
        first.withLock { if $0 == nil { $0 = error } }
    }

    var error: (any Error)? { first.withLock { $0 } }
}
