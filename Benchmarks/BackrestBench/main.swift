import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SyncCore
import Synchronization
import WharfProto
import WharfRuntime

// backrest hub figures against a running Wharf system (scripts/bench-backrest starts one):
//   BackrestBench <gateway port> [operations, default 100000]   (WHARF_ADMIN_TOKEN: the system's admin token)
// 1. ingest from one peer: `operations` created in batches of 500 on one Sync stream, through the gateway;
// 2. ingest from 10 peers at once: `operations` / 10 each, on 10 streams;
// 3. catch-up: the first peer, now holding `operations` stored operations, reconnects after editing 100 (and
//    then 1,000) of them offline; time from dialling to the hub having stored every edit, next to a reconnect
//    with nothing to catch up.
// 4. the same for protocol 3 (backrest 1.13+: key exchange, every message AES-256-GCM): ingest from 1 and 10
//    peers (live created lists of 500 after the handshake), then a peer holding `operations` reconnects with a
//    manifest of all of them and 0, 100 and 1,000 changed: time until the hub has requested and stored the changes.
// A session's time runs until the hub ends the call after the client closed its side: the hub applies each
// message before it reads the next, so by then every operation is in PostgreSQL.

func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
}

typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

/// A backrest client as the bench plays it: its key, its instance id, its own operation numbering.
struct Peer: Sendable {
    let identity = BackrestIdentity.generate()
    let instanceID: String

    func handshake() throws -> V1sync_SyncStreamItem {
        let signed = try identity.signedMessage(payload: Data(instanceID.utf8), at: Date())
        return .with {
            $0.handshake = .with {
                $0.protocolVersion = 1
                $0.publicKey = identity.publicKey.proto
                $0.instanceID = signed
            }
        }
    }

    /// A finished backup as backrest records one: every 4 operations share a flow (backup, index, forget, prune).
    func operation(_ id: Int64, modno: Int64) -> V1_Operation {
        .with {
            $0.id = id
            $0.flowID = (id + 3) / 4
            $0.modno = modno
            $0.instanceID = instanceID
            $0.repoID = "nas"
            $0.repoGuid = "5e7b0c1a9d2f4e6b8a3c1d0e9f7a6b5c"
            $0.planID = "daily"
            $0.unixTimeStartMs = 1_762_000_000_000 + id * 60_000
            $0.unixTimeEndMs = 1_762_000_000_000 + id * 60_000 + 42_000
            $0.status = .statusSuccess
            $0.snapshotID = String(
                format: "%016llx%016llx%016llx%016llx", UInt64(id), UInt64(modno), UInt64(id) &* 0x9E37_79B9, UInt64(modno) &* 0x85EB_CA6B)
            $0.displayMessage = "backup of /home finished: 1,204 files, 3.1 GiB"
            $0.operationBackup = .with {
                $0.lastStatus = .with {
                    $0.summary = .with {
                        $0.filesNew = 12; $0.filesChanged = 40; $0.filesUnmodified = 1_152; $0.dataAdded = 48_000_000
                        $0.totalFilesProcessed = 1_204; $0.totalBytesProcessed = 3_328_599_654
                    }
                }
            }
        }
    }
}

/// One Sync session: handshake, wait for the hub's request_operations, send `items`, close, wait for the end.
/// Returns the hub's request (its catch-up point for this peer).
func session(
    _ client: Client, _ peer: Peer, items: @escaping @Sendable (V1sync_SyncStreamItem.SyncActionRequestOperations) -> [V1sync_SyncStreamItem]
)
    async throws -> V1sync_SyncStreamItem.SyncActionRequestOperations
{
    let (asked, ask) = AsyncStream.makeStream(of: V1sync_SyncStreamItem.SyncActionRequestOperations.self)
    let handshake = try peer.handshake()
    let request = StreamingClientRequest<V1sync_SyncStreamItem> { writer in
        try await writer.write(handshake)
        var iterator = asked.makeAsyncIterator()
        guard let point = await iterator.next() else { throw BenchFailure(description: "the hub ended the session before request_operations") }
        for item in items(point) { try await writer.write(item) }
    }
    return try await V1sync_BackrestSyncService.Client(wrapping: client).sync(request: request) { response in
        var point: V1sync_SyncStreamItem.SyncActionRequestOperations?
        for try await item in response.messages {
            if case .requestOperations(let request)? = item.action, point == nil {
                point = request
                ask.yield(request)
            }
        }
        ask.finish()
        guard let point else { throw BenchFailure(description: "no request_operations from the hub") }
        return point
    }
}

func created(_ peer: Peer, _ ids: ClosedRange<Int64>) -> [V1sync_SyncStreamItem] {
    stride(from: ids.lowerBound, through: ids.upperBound, by: 500).map { start in
        let end = min(start + 499, ids.upperBound)
        return .with {
            $0.receiveOperations = .with {
                $0.event = .with {
                    $0.createdOperations = .with {
                        $0.operations = (start...end).map { peer.operation($0, modno: $0) }
                    }
                }
            }
        }
    }
}

func ingest(_ client: Client, peers: [Peer], each: Int64) async throws -> Duration {
    let clock = ContinuousClock()
    let started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for peer in peers {
            group.addTask { _ = try await session(client, peer) { _ in created(peer, 1...each) } }
        }
        try await group.waitForAll()
    }
    return clock.now - started
}

/// Reconnects `peer` after `edits` offline edits of its operations (each given the next modno), spread
/// over everything it holds; returns the wall time and the hub's catch-up point.
func catchUp(_ client: Client, _ peer: Peer, holding stored: Int64, edits: Int64, modnoBase: Int64)
    async throws -> (Duration, V1sync_SyncStreamItem.SyncActionRequestOperations)
{
    let clock = ContinuousClock()
    let started = clock.now
    let point = try await session(client, peer) { point in
        // backrest sends what is newer than the hub's point in its own numbering: these edits.
        let edited = (0..<edits).map { index -> V1_Operation in
            var operation = peer.operation(1 + index * max(1, stored / max(edits, 1)), modno: modnoBase + index + 1)
            operation.displayMessage = "pruned offline (edit \(index))"
            return operation
        }
        guard !edited.isEmpty else { return [] }
        return [.with { $0.receiveOperations = .with { $0.event = .with { $0.updatedOperations = .with { $0.operations = edited } } } }]
    }
    return (clock.now - started, point)
}

let arguments: [String] = Array(CommandLine.arguments.dropFirst())
guard let gatewayPort = arguments.first.flatMap(Int.init) else {
    report("usage: BackrestBench <gateway port> [operations]")
    exit(2)
}
let operations: Int64 = arguments.count > 1 ? Int64(arguments[1]) ?? 100_000 : 100_000
guard let adminText = ProcessInfo.processInfo.environment["WHARF_ADMIN_TOKEN"], let admin = SharedSecret(adminText) else {
    report("BackrestBench: set WHARF_ADMIN_TOKEN to the system's admin token")
    exit(2)
}

/// One protocol-3 session through the gateway: connect (key exchange, handshakes), read the hub's config and
/// resources, run `body`, close the client's side and wait for the hub to end the call.
@Sendable func protocol3Session(
    _ client: Client, _ identity: Protocol3ClientIdentity, _ body: @escaping @Sendable (Protocol3ClientSession) async throws -> Void
) async throws {
    try await withProtocol3Session(client) { io in
        _ = try await io.connect(as: identity)
        _ = try await io.next()
        _ = try await io.next()
        try await body(io)
        io.finishSending()
        while try await io.next() != nil {}
    }
}

@Sendable func protocol3Item(_ event: V1_OperationEvent) -> Protocol3Channel.Item {
    .with { $0.receiveOperations = .with { $0.event = event } }
}

func protocol3Ingest(_ client: Client, peers: [(Protocol3ClientIdentity, Peer)], each: Int64) async throws -> Duration {
    let clock = ContinuousClock()
    let started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for (identity, shape) in peers {
            group.addTask {
                try await protocol3Session(client, identity) { io in
                    for start in stride(from: Int64(1), through: each, by: 500) {
                        let operations = (start...min(start + 499, each)).map { shape.operation($0, modno: 1) }
                        try await io.sendEncrypted(protocol3Item(.with { $0.createdOperations = .with { $0.operations = operations } }))
                    }
                }
            }
        }
        try await group.waitForAll()
    }
    return clock.now - started
}

/// A manifest of ids 1...`holding` where `changed` of them (spread evenly) have modno `changed + 1` (each run's
/// changed ids include the previous, smaller run's, with a new modno); the peer answers the hub's requests in
/// batches of 512 as backrest does. Returns the wall time and the number of ids the hub asked for.
func protocol3ManifestSync(_ client: Client, _ identity: Protocol3ClientIdentity, shape: Peer, holding: Int64, changed: Int64)
    async throws -> (Duration, Int)
{
    let step = changed > 0 ? max(1, holding / changed) : holding + 1
    let modno: @Sendable (Int64) -> Int64 = { id in changed > 0 && (id - 1) % step == 0 && (id - 1) / step < changed ? changed + 1 : 1 }
    let clock = ContinuousClock()
    let started = clock.now
    let asked = Mutex(0)
    try await protocol3Session(client, identity) { io in
        try await io.sendEncrypted(
            .with {
                $0.operationManifest = .with {
                    $0.opIds = Array(1...holding)
                    $0.modnos = (1...holding).map(modno)
                }
            })
        var outstanding = Int(changed)
        while outstanding > 0, let item = try await io.next() {
            guard case .requestOperationData(let request)? = item.action else { continue }
            asked.withLock { $0 += request.opIds.count }
            outstanding -= request.opIds.count
            for start in stride(from: 0, to: request.opIds.count, by: 512) {
                let ids = request.opIds[start..<min(start + 512, request.opIds.count)]
                try await io.sendEncrypted(
                    protocol3Item(.with { $0.updatedOperations = .with { $0.operations = ids.map { shape.operation($0, modno: modno($0)) } } }))
            }
        }
    }
    return (clock.now - started, asked.withLock { $0 })
}

let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
let solo = Peer(instanceID: "bench-\(run)-solo")
let crowd = (0..<10).map { Peer(instanceID: "bench-\(run)-peer\($0)") }
let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: gatewayPort), transportSecurity: .plaintext)
try await withGRPCClient(transport: transport, interceptors: [AdminTokenClientInterceptor(token: admin)]) { (client: Client) in
    let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
    for peer in [solo] + crowd {
        _ = try await hub.addClient(
            .with {
                $0.instanceID = peer.instanceID
                $0.keyid = peer.identity.publicKey.keyid
                $0.permissions = [
                    .with {
                        $0.type = .permissionReadOperations; $0.scopes = ["*"]
                    }
                ]
            })
    }
    let sample: [UInt8] = try solo.operation(1, modno: 1).serializedBytes()
    report("backrest hub through the gateway at 127.0.0.1:\(gatewayPort); operations of ~\(sample.count) bytes, batches of 500")

    let one = try await ingest(client, peers: [solo], each: operations)
    report(String(format: "ingest, 1 peer: %lld operations in %.2f s = %.0f ops/s", operations, seconds(one), Double(operations) / seconds(one)))
    let each = operations / 10
    let ten = try await ingest(client, peers: crowd, each: each)
    report(
        String(format: "ingest, 10 peers at once: %lld operations in %.2f s = %.0f ops/s", each * 10, seconds(ten), Double(each * 10) / seconds(ten)))
    for peer in [solo] + crowd {
        // Every operation is stored: the hub's catch-up point for each peer is its highest id and modno.
        let expected = peer.instanceID == solo.instanceID ? operations : each
        let point = try await session(client, peer) { _ in [] }
        guard point.highOpid == expected, point.highModno == expected else {
            throw BenchFailure(description: "\(peer.instanceID): hub holds up to \(point.highOpid)/\(point.highModno), sent \(expected)")
        }
    }

    var modno = operations
    for edits: Int64 in [0, 100, 1_000] {
        let (time, point) = try await catchUp(client, solo, holding: operations, edits: edits, modnoBase: modno)
        guard point.highOpid == operations, point.highModno == modno else {
            throw BenchFailure(description: "catch-up point \(point.highOpid)/\(point.highModno), expected \(operations)/\(modno)")
        }
        modno += edits
        report(
            String(
                format:
                    "catch-up of a peer holding %lld operations with %lld offline edits: %.0f ms (connect, handshake, request_operations, edits stored)",
                operations, edits, seconds(time) * 1000))
    }
    // The last reconnect must see every edit: its point is the highest modno sent.
    let (_, final) = try await catchUp(client, solo, holding: operations, edits: 0, modnoBase: modno)
    guard final.highModno == modno else { throw BenchFailure(description: "edits not all stored: point \(final.highModno), expected \(modno)") }
    report("catch-up point after the edits: high_opid \(final.highOpid), high_modno \(final.highModno) (all edits stored)")

    // Protocol 3: the same shapes of operation, each peer with its own ed25519 key.
    let p3solo = (Protocol3ClientIdentity(instanceID: "bench-\(run)-p3solo"), Peer(instanceID: "bench-\(run)-p3solo"))
    let p3crowd = (0..<10).map { (Protocol3ClientIdentity(instanceID: "bench-\(run)-p3peer\($0)"), Peer(instanceID: "bench-\(run)-p3peer\($0)")) }
    for (identity, _) in [p3solo] + p3crowd {
        _ = try await hub.addClient(
            .with {
                $0.instanceID = identity.instanceID
                $0.keyid = identity.keyid
                $0.permissions = [
                    .with {
                        $0.type = .permissionReadOperations; $0.scopes = ["*"]
                    }
                ]
            })
    }
    let p3one = try await protocol3Ingest(client, peers: [p3solo], each: operations)
    report(
        String(
            format: "protocol 3 ingest, 1 peer: %lld operations in %.2f s = %.0f ops/s (%.0f %% of protocol 1's)", operations, seconds(p3one),
            Double(operations) / seconds(p3one), 100 * seconds(one) / seconds(p3one)))
    let p3ten = try await protocol3Ingest(client, peers: p3crowd, each: each)
    report(
        String(
            format: "protocol 3 ingest, 10 peers at once: %lld operations in %.2f s = %.0f ops/s (%.0f %% of protocol 1's)", each * 10,
            seconds(p3ten), Double(each * 10) / seconds(p3ten), 100 * seconds(ten) / seconds(p3ten)))
    for changed: Int64 in [0, 100, 1_000] {
        let (time, asked) = try await protocol3ManifestSync(client, p3solo.0, shape: p3solo.1, holding: operations, changed: changed)
        guard asked == changed else { throw BenchFailure(description: "the hub asked for \(asked) operations, \(changed) changed") }
        report(
            String(
                format: "protocol 3 manifest catch-up of a peer holding %lld operations with %lld changed: %.0f ms (asked for %d)", operations,
                changed, seconds(time) * 1000, asked))
    }
}
