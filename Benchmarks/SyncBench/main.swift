import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import SyncCore
import WharfProto

// Sync service figures between two Wharf systems on this machine (scripts/bench-sync starts them):
//   SyncBench <A store port> <A gateway port> <B store port> <B gateway port> [initial records] [common records]
// 1. initial mirror: `initial` records pushed to A, then CreateSync on B; records/s until B has copied them all;
// 2. latency: with the sync active, 200 records pushed to A one by one; time until each is pullable on B;
// 3. re-sync: `common` records on both, 100 more on A only; the reconciliation of B's set against A's
//    (bytes both ways, wall time) next to listing A's OCI tag list of the same set, and a new sync's time to copy
//    the 100.

/// One line on standard output, written at once (print buffers when the output is a pipe).
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func record(_ run: Substring, _ index: Int) -> Agntcy_Dir_Core_V1_Record {
    func text(_ value: String) -> Google_Protobuf_Value { Google_Protobuf_Value(stringValue: value) }
    func object(_ fields: [String: Google_Protobuf_Value]) -> Google_Protobuf_Value {
        Google_Protobuf_Value(structValue: Google_Protobuf_Struct(fields: fields))
    }
    func list(_ values: [Google_Protobuf_Value]) -> Google_Protobuf_Value {
        Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: values))
    }
    return .with {
        $0.data = Google_Protobuf_Struct(fields: [
            "name": text("example.org/bench-sync/\(run)/agent-\(index)"), "version": text("v1.0.0"), "schema_version": text("v0.7.0"),
            "description": text("Summarizes documents."), "authors": list([text("ACME <dev@acme.example>")]),
            "created_at": text("2025-09-19T10:00:00Z"),
            "skills": list([
                object([
                    "name": text("natural_language_processing/natural_language_generation/text_completion"),
                    "id": Google_Protobuf_Value(numberValue: 10201),
                ])
            ]),
            "locators": list([object(["type": text("docker_image"), "url": text("https://ghcr.io/acme/agent-\(index):1.0.0")])]),
        ])
    }
}

typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

func withClient<T: Sendable>(_ port: Int, _ body: @Sendable (Client) async throws -> T) async throws -> T {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport) { try await body($0) }
}

/// Pushes records `range` of `run` over 16 concurrent streams (records are built as they are sent).
func push(_ client: Client, run: Substring, _ range: Range<Int>) async throws -> Int {
    let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
    let streams = 16
    return try await withThrowingTaskGroup(of: Int.self) { group in
        for stream in 0..<streams {
            group.addTask {
                var acknowledged = 0
                var start = range.lowerBound + stream * 1000
                while start < range.upperBound {
                    let chunk = start..<min(start + 1000, range.upperBound)
                    acknowledged += try await store.push(
                        request: StreamingClientRequest { writer in
                            for index in chunk { try await writer.write(record(run, index)) }
                        }
                    ) { response in try await response.messages.reduce(0) { count, _ in count + 1 } }
                    start += streams * 1000
                }
                return acknowledged
            }
        }
        return try await group.reduce(0, +)
    }
}

func progress(_ client: Client, _ id: String) async throws -> Wharf_Sync_V1_SyncProgressResponse {
    try await Wharf_Sync_V1_SyncProgress.Client(wrapping: client).getSyncProgress(.with { $0.syncID = id })
}

/// CreateSync and DeleteSync are administrative: B's admin token (scripts/bench-sync passes WHARF_ADMIN_TOKEN).
let adminMetadata: Metadata = ["wharf-admin-token": .string(ProcessInfo.processInfo.environment["WHARF_ADMIN_TOKEN"] ?? "")]

func createSync(_ client: Client, remote: Int) async throws -> String {
    try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).createSync(
        .with { $0.remoteDirectoryURL = "http://127.0.0.1:\(remote)" },
        metadata: adminMetadata
    ).syncID
}

func deleteSync(_ client: Client, _ id: String) async throws {
    _ = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).deleteSync(.with { $0.syncID = id }, metadata: adminMetadata)
}

func exists(_ client: Client, _ cid: String) async -> Bool {
    let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
    return
        (try? await store.lookup(request: StreamingClientRequest { try await $0.write(.with { $0.cid = cid }) }) { response in
            for try await _ in response.messages { return true }
            return false
        }) ?? false
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

/// B's store initiates a reconciliation of its CID set against A's store (the sync's relay, measured): the
/// CIDs only A has, the bytes both ways, the rounds.
func reconcile(b: Client, a: Client) async throws -> (need: Int, bytes: Int, replies: Int, rounds: Int) {
    let counter = ReplyCounter()
    let (toA, toAInput) = AsyncStream.makeStream(of: Data.self)
    let (fromA, fromAInput) = AsyncStream.makeStream(of: Data.self)
    return try await withThrowingTaskGroup(of: (need: Int, bytes: Int, rounds: Int)?.self) { group in
        group.addTask {
            defer { fromAInput.finish() }
            try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: a).reconcile(
                request: StreamingClientRequest { writer in
                    for await message in toA { try await writer.write(.with { $0.negentropy = message }) }
                }
            ) { response in
                for try await reply in response.messages { counter.add(reply.negentropy.count); fromAInput.yield(reply.negentropy) }
            }
            return nil
        }
        group.addTask {
            try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: b).initiate(
                request: StreamingClientRequest { writer in
                    try await writer.write(.init())
                    for await reply in fromA { try await writer.write(.with { $0.negentropy = reply }) }
                }
            ) { response in
                defer { toAInput.finish() }
                var need = 0, bytes = 0, rounds = 0
                for try await step in response.messages {
                    need += step.needCids.count
                    guard step.roundComplete else { continue }
                    if step.done { return (need, bytes, rounds) }
                    rounds += 1
                    bytes += step.negentropy.count
                    toAInput.yield(step.negentropy)
                }
                throw RPCError(code: .unavailable, message: "reconciliation ended early")
            }
        }
        var result: (need: Int, bytes: Int, rounds: Int)?
        for try await outcome in group { if let outcome { result = outcome } }
        guard let result else { throw RPCError(code: .unavailable, message: "no result") }
        return (result.need, result.bytes, counter.total, result.rounds)
    }
}

final class ReplyCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = 0
    func add(_ count: Int) { lock.withLock { bytes += count } }
    var total: Int { lock.withLock { bytes } }
}

/// The three measurements, in order (each prints its line).
func measure(
    aStore: Client, bStore: Client, aGateway: Client, bGateway: Client, aGatewayPort: Int,
    initialCount: Int, commonCount: Int, registryPort: Int
) async throws {
    let run = UUID().uuidString.prefix(8)
    let clock = ContinuousClock()
    // 1. Initial mirror.
    var start = clock.now
    let pushed = try await push(aStore, run: run, 0..<initialCount)
    report(String(format: "setup: %d records pushed to A in %.1f s", pushed, seconds(clock.now - start)))
    start = clock.now
    let first = try await createSync(bGateway, remote: aGatewayPort)
    while try await progress(bGateway, first).copied < UInt64(initialCount) {
        try await Task.sleep(for: .milliseconds(100))
    }
    let initialSeconds = seconds(clock.now - start)
    report(
        String(
            format: "initial mirror: %d records in %.1f s = %.0f records/s (target >= 3,000/s)",
            initialCount, initialSeconds, Double(initialCount) / initialSeconds))

    // 2. Latency, with the sync active and in step.
    var latencies: [Double] = []
    for index in 0..<200 {
        let record = record(run, 10_000_000 + index)
        let begin = clock.now
        let cid = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: aGateway).push(
            request: StreamingClientRequest {
                try await $0.write(record)
            }
        ) { response in try await response.messages.reduce("") { $1.cid } }
        while !(await exists(bGateway, cid)) { try await Task.sleep(for: .milliseconds(2)) }
        latencies.append(seconds(clock.now - begin))
    }
    report(
        String(
            format: "push on A to pullable on B (200 records): p50 %.0f ms, p95 %.0f ms, max %.0f ms (target p95 <= 2 s)",
            percentile(latencies, 0.5) * 1000, percentile(latencies, 0.95) * 1000, (latencies.max() ?? 0) * 1000))
    try await deleteSync(bGateway, first)

    // 3. Re-sync of large sets differing by 100.
    guard commonCount > initialCount else { return }
    start = clock.now
    async let onA = push(aStore, run: run, initialCount..<commonCount)
    async let onB = push(bStore, run: run, initialCount..<commonCount)
    _ = try await (onA, onB)
    _ = try await push(aStore, run: run, 20_000_000..<20_000_100)
    report(String(format: "setup: %d more records on both, 100 on A only, in %.1f s", commonCount - initialCount, seconds(clock.now - start)))
    start = clock.now
    let difference = try await reconcile(b: bStore, a: aStore)
    let reconcileSeconds = seconds(clock.now - start)
    let replies = difference.replies
    let setSize = commonCount + 200
    report(
        String(
            format:
                "re-sync %d vs %d records differing by %d: reconciliation %d bytes (%d from B, %d from A), %d rounds, %.2f s (target <= 100 KB, <= 5 s)",
            setSize + 100, setSize, difference.need, difference.bytes + replies, difference.bytes, replies, difference.rounds, reconcileSeconds))
    if registryPort > 0 {
        let credentials = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: aGateway).requestRegistryCredentials(
            .with { $0.requestingNodeID = "bench-sync" })
        let listing = try RegistryTagList(
            registry: "127.0.0.1:\(registryPort)", username: credentials.basicAuth.username,
            password: credentials.basicAuth.password)
        start = clock.now
        let (tags, bytes) = try await listing.all()
        report(String(format: "the same set through A's OCI tag list: %d tags, %d bytes, %.2f s", tags.count, bytes, seconds(clock.now - start)))
    }
    start = clock.now
    let second = try await createSync(bGateway, remote: aGatewayPort)
    while try await progress(bGateway, second).copied < 100 { try await Task.sleep(for: .milliseconds(50)) }
    report(String(format: "a new sync on B copies the 100: %.2f s from CreateSync (job pick-up, reconciliation, copy)", seconds(clock.now - start)))
    try await deleteSync(bGateway, second)
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
guard arguments.count >= 4 else {
    report("usage: SyncBench <A store port> <A gateway port> <B store port> <B gateway port> [initial records] [common records]")
    exit(2)
}
let (aStorePort, aGatewayPort, bStorePort, bGatewayPort) = (arguments[0], arguments[1], arguments[2], arguments[3])
let initialCount = arguments.count > 4 ? arguments[4] : 100_000
let commonCount = arguments.count > 5 ? arguments[5] : 1_000_000
let registryPort = arguments.count > 6 ? arguments[6] : 0

try await withClient(aStorePort) { aStore in
    try await withClient(bStorePort) { bStore in
        try await withClient(aGatewayPort) { aGateway in
            try await withClient(bGatewayPort) { bGateway in
                try await measure(
                    aStore: aStore, bStore: bStore, aGateway: aGateway, bGateway: bGateway, aGatewayPort: aGatewayPort,
                    initialCount: initialCount, commonCount: commonCount, registryPort: registryPort)
            }
        }
    }
}
