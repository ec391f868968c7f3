import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NegentropyProtocol
import SyncCore
import Testing
import WharfEncoding
import WharfProto
import WharfTestSupport

/// Two Wharf systems as real processes with every metrics port on, A's console in front of A, and data of every
/// kind the console and the dashboards show: records (one signed) in both, A mirroring B, a protocol-1 backrest
/// client connected to A's hub and a protocol-3 Go peer with backups of two plans, a relay reconciliation, a
/// blob put and read, registry credentials issued, a refused call. Started once per test process.
final class ObservedSystem: Sendable {
    static let viewerToken = "viewer-token-for-observability-tests"
    private static let shared = OncePerProcess<ObservedSystem>()

    let a: WharfSystem
    let b: WharfSystem
    let redisB: TestRedis
    let console: SpawnedProcess
    let consolePort: Int
    let consoleMetricsPort: Int
    /// A's records, the first signed.
    let recordCIDs: [String]
    let syncID: String
    let goPeer: GoPeerRun
    let desktopSession: Task<Void, any Error>
    let state: String

    var consoleURL: String { "http://127.0.0.1:\(consolePort)" }

    private init(
        a: WharfSystem, b: WharfSystem, redisB: TestRedis, console: SpawnedProcess, consolePort: Int, consoleMetricsPort: Int,
        recordCIDs: [String], syncID: String, goPeer: GoPeerRun, desktopSession: Task<Void, any Error>, state: String
    ) {
        self.a = a
        self.b = b
        self.redisB = redisB
        self.console = console
        self.consolePort = consolePort
        self.consoleMetricsPort = consoleMetricsPort
        self.recordCIDs = recordCIDs
        self.syncID = syncID
        self.goPeer = goPeer
        self.desktopSession = desktopSession
        self.state = state
    }

    static func started() async throws -> ObservedSystem {
        try await shared.value { try await start() }
    }

    /// A client of A's gateway with the admin token.
    func withA<T: Sendable>(_ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        try await withTestClient(port: a.port("gateway"), admin: true, body)
    }

    /// Every component's metrics port on A, and the console's.
    var metricsTargets: [String: Int] {
        var targets = Dictionary(uniqueKeysWithValues: a.components.compactMap { component in component.metricsPort.map { (component.name, $0) } })
        targets["console"] = consoleMetricsPort
        return targets
    }

    private static func start() async throws -> ObservedSystem {
        let every = Set(WharfSystem.everyComponent)
        let a = try await WharfSystem.start(environment: ["WHARF_NODE_ID": "node-a", "WHARF_SYNC_POLL_INTERVAL": "3s"], metrics: every)
        let redisB = try await TestRedis.start()
        let b = try await WharfSystem.start(environment: ["WHARF_NODE_ID": "node-b"], redis: redisB)
        let state = try TemporaryDirectories.make(prefix: "observed")

        let consolePort = try freePort()
        let consoleMetricsPort = try freePort()
        let console = try SpawnedProcess.spawn(
            try builtExecutable("console"), [],
            environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WHARF_") }.merging([
                "WHARF_LISTEN": "127.0.0.1:\(consolePort)", "WHARF_METRICS_LISTEN": "127.0.0.1:\(consoleMetricsPort)",
                "WHARF_LOG_LEVEL": "warning", "WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText,
                "WHARF_CONSOLE_VIEWER_TOKEN": viewerToken, "WHARF_CONSOLE_GATEWAY": "127.0.0.1:\(a.port("gateway"))",
                "WHARF_CONSOLE_GATEWAY_METRICS": "127.0.0.1:\(a.component("gateway").metricsPort ?? 0)",
                "WHARF_CONSOLE_SCRAPE_INTERVAL": "1s",
            ]) { $1 },
            outputPath: state + "/console.log")
        guard await eventually(timeout: .seconds(30), { isListening(port: consolePort) }) else {
            throw TestSupportError("the console did not listen: \((try? String(contentsOfFile: state + "/console.log", encoding: .utf8)) ?? "")")
        }

        // Records: five on A (published, the first signed), three on B; A mirrors B.
        let recordCIDs = try await withTestClient(port: a.port("gateway"), admin: true) { client in
            let cids = try await client.pushRecords(
                (0..<5).map { labelledRecord("observed-\($0)", skills: ["observed/skill", "observed/\($0)"], locators: ["docker-image"]) })
            let routing = Routing_V1_RoutingService.Client(wrapping: client)
            for cid in cids { _ = try await routing.publish(.with { $0.recordCid = cid }) }
            _ = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pushReferrer(
                request: StreamingClientRequest { writer in
                    try await writer.write(
                        .with {
                            $0.recordRef = .with { $0.cid = cids[0] }
                            $0.signature = .with { $0.signature = "b2JzZXJ2ZWQtc2lnbmF0dXJl" }
                        })
                }
            ) { try await $0.messages.reduce(into: 0) { count, _ in count += 1 } }
            return cids
        }
        let mirrored = try await withTestClient(port: b.port("gateway")) { client in
            try await client.pushRecords((0..<3).map { labelledRecord("mirrored-\($0)", skills: ["mirrored/skill"], locators: ["docker-image"]) })
        }
        let syncID = try await withTestClient(port: a.port("gateway"), admin: true) { client in
            let id = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).createSync(
                .with { $0.remoteDirectoryURL = "http://127.0.0.1:\(b.port("gateway"))" }
            ).syncID
            guard try await eventually(timeout: .seconds(60), every: .milliseconds(300), { try await client.pullableCIDs(mirrored) == Set(mirrored) })
            else { throw TestSupportError("A did not mirror B's records") }
            // Registry credentials handed to B's node, a blob put and read, a call refused with NOT_FOUND.
            _ = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).requestRegistryCredentials(
                .with { $0.requestingNodeID = "node-b" })
            let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
            let digest = try await blobs.put(
                request: StreamingClientRequest { writer in try await writer.write(.with { $0.data = Data(repeating: 7, count: 300_000) }) }
            ).digest
            _ = try await blobs.read(.with { $0.digest = digest }) { try await $0.messages.reduce(into: 0) { $0 += $1.data.count } }
            _ = try? await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pull(
                request: StreamingClientRequest { writer in try await writer.write(.with { $0.cid = "bafkreinotstoredhere" }) }
            ) { try await $0.messages.reduce(into: 0) { count, _ in count += 1 } }
            return id
        }

        // Backup hosts: a protocol-1 client that stays connected, and the Go peer (protocol 3) paired with a token.
        let desktop = BackrestClientIdentity(instanceID: "desktop")
        let goPeer = try await withTestClient(port: a.port("gateway"), admin: true) { client in
            let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
            let readOperations: [V1_Multihost.Permission] = [
                .with {
                    $0.type = .permissionReadOperations; $0.scopes = ["*"]
                }
            ]
            _ = try await hub.addClient(
                .with {
                    $0.instanceID = "desktop"; $0.keyid = desktop.identity.publicKey.keyid; $0.permissions = readOperations
                })
            let token = try await hub.createPairingToken(
                .with {
                    $0.label = "go laptop"; $0.ttlSeconds = 3600; $0.maxUses = 1; $0.permissions = readOperations
                }
            ).token
            return try await GoPeerRun.start(
                [
                    "-address", "127.0.0.1:\(a.port("gateway"))", "-protocol", "connect", "-pair", token, "-instance", "go-laptop",
                    "-ops", "24", "-varied",
                ], state: state + "/go-laptop")
        }
        let port = a.port("gateway")
        let desktopSession = Task {
            try await withTestClient(port: port) { client in
                try await withHubSession(client) { io in
                    io.send.yield(try desktop.handshake())
                    for _ in 0..<4 { _ = try await io.next() }
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    io.send.yield(
                        created(
                            (1...6).map { index -> V1_Operation in
                                var operation = desktop.operation(Int64(index), flow: Int64(index), modno: Int64(index))
                                operation.planID = index % 2 == 0 ? "photos" : "documents"
                                operation.status = index == 6 ? .statusError : .statusSuccess
                                operation.displayMessage = index == 6 ? "backup failed: repository is locked" : ""
                                operation.unixTimeStartMs = now - Int64(7 - index) * 7_200_000
                                operation.unixTimeEndMs = operation.unixTimeStartMs + 60_000
                                operation.operationBackup = .with {
                                    if index != 6 { $0.lastStatus = .with { $0.summary = .with { $0.dataAdded = Int64(index) * 2_000_000 } } }
                                }
                                return operation
                            }))
                    // Held open (heartbeats answered by the hub's reader) until the test process ends.
                    while !Task.isCancelled {
                        io.send.yield(.with { $0.heartbeat = .init() })
                        try await Task.sleep(for: .seconds(5))
                    }
                }
            }
        }
        try await withTestClient(port: a.port("gateway"), admin: true) { client in
            let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
            guard
                try await eventually(
                    timeout: .seconds(60), every: .milliseconds(300),
                    { try await hub.listOperations(.with { $0.limit = 1000 }).operations.count == 30 })
            else { throw TestSupportError("the backup hosts' operations did not arrive: \(goPeer.output)") }
        }

        // One NIP-77 reconciliation on A's relay.
        let relay = RelayTestClient(url: "ws://127.0.0.1:\(a.relayPort)")
        let open = try Negentropy(storage: try SortedItems([])).initiate()
        try relay.send(["NEG-OPEN", "observed", ["kinds": [1]], open.hexString])
        _ = try await relay.receive()
        try relay.send(["NEG-CLOSE", "observed"])
        await relay.close()

        return ObservedSystem(
            a: a, b: b, redisB: redisB, console: console, consolePort: consolePort, consoleMetricsPort: consoleMetricsPort,
            recordCIDs: recordCIDs, syncID: syncID, goPeer: goPeer, desktopSession: desktopSession, state: state)
    }
}
