import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing
import WharfProto
import WharfTestSupport

/// Two whole Wharf systems on one machine, as two deployments would be: each its own processes, its own
/// database and its own Redis server (events of one never reach the other), its own node id and ports. B
/// mirrors A through its sync service, dialling A's gateway as a user's `remote_directory_url` would.
@Suite("Federation: two Wharf systems mirror each other through the sync service", .serialized)
struct FederationTests {}

struct Federation: Sendable {
    let a: WharfSystem
    let b: WharfSystem
    let redisB: TestRedis

    /// Settings that keep rounds short here: a round follows A's change feed for `WHARF_SYNC_POLL_INTERVAL`,
    /// and a killed worker's round is taken over after `WHARF_JOB_LEASE`.
    static let mirrorSettings = [
        "WHARF_SYNC_POLL_INTERVAL": "3s", "WHARF_JOB_POLL_INTERVAL": "200ms", "WHARF_JOB_LEASE": "3s",
        "WHARF_ROUTING_MAX_RESULTS": "100000",
    ]

    /// `unroutedOnA`: services A's gateway does not route (A then looks like a Directory that is no Wharf node).
    static func start(
        a extraA: [String: String] = [:], b extraB: [String: String] = [:],
        unroutedOnA: Set<String> = []
    ) async throws -> Federation {
        let a = try await WharfSystem.start(environment: ["WHARF_NODE_ID": "node-a"].merging(extraA) { $1 }, unrouted: unroutedOnA)
        do {
            let redisB = try await TestRedis.start()
            do {
                let b = try await WharfSystem.start(
                    environment: ["WHARF_NODE_ID": "node-b"].merging(mirrorSettings) { $1 }.merging(extraB) { $1 }, redis: redisB,
                    metrics: ["sync"])
                return Federation(a: a, b: b, redisB: redisB)
            } catch {
                await redisB.stopServer()
                throw error
            }
        } catch {
            await a.stop()
            throw error
        }
    }

    func stop() async {
        await b.stop()
        await a.stop()
        await redisB.stopServer()
    }

    /// A's gateway as B's syncs name it.
    var remoteURL: String { "http://127.0.0.1:\(a.port("gateway"))" }

    /// Runs `body` with clients of A's and B's gateways.
    func withGateways<T: Sendable>(
        _ body: (_ a: GRPCClient<HTTP2ClientTransport.Posix>, _ b: GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await withTestClient(port: a.port("gateway")) { clientA in
            try await withTestClient(port: b.port("gateway")) { clientB in try await body(clientA, clientB) }
        }
    }
}

/// Labelled records whose names are unique to this run (so that their CIDs are new).
func federationRecords(_ count: Int, skill: String, run: String = String(UUID().uuidString.prefix(8))) -> [Agntcy_Dir_Core_V1_Record] {
    (0..<count).map { labelledRecord("federation-\(run)-\($0)", skills: [skill], locators: ["docker_image"]) }
}

func uniqueSkill(_ name: String) -> String { "federation/\(name)_\(UUID().uuidString.prefix(8).lowercased())" }

extension GRPCClient where Transport == HTTP2ClientTransport.Posix {
    var sync: Agntcy_Dir_Store_V1_SyncService.Client<Transport> { .init(wrapping: self) }

    /// CreateSync with the admin token (it is administrative: the node dials the URL it is given).
    func createSync(remote: String, cids: [String] = []) async throws -> String {
        try await sync.createSync(
            .with {
                $0.remoteDirectoryURL = remote; $0.cids = cids
            }, metadata: TestCredentials.adminMetadata
        ).syncID
    }

    /// DeleteSync with the admin token.
    func deleteSync(_ id: String) async throws {
        _ = try await sync.deleteSync(.with { $0.syncID = id }, metadata: TestCredentials.adminMetadata)
    }
    var syncProgress: Wharf_Sync_V1_SyncProgress.Client<Transport> { .init(wrapping: self) }
    var routing: Routing_V1_RoutingService.Client<Transport> { .init(wrapping: self) }
    var store: Agntcy_Dir_Store_V1_StoreService.Client<Transport> { .init(wrapping: self) }

    func progress(_ id: String) async throws -> Wharf_Sync_V1_SyncProgressResponse {
        try await syncProgress.getSyncProgress(.with { $0.syncID = id })
    }

    func status(_ id: String) async throws -> Agntcy_Dir_Store_V1_SyncStatus {
        try await sync.getSync(.with { $0.syncID = id }).status
    }

    /// Every CID routing lists for one skill (with repeats, if there were any).
    func listed(skill: String) async throws -> [String] {
        try await routing.list(
            .with {
                $0.queries = [
                    .with {
                        $0.type = .skill; $0.value = skill
                    }
                ]
            }
        ) { response in
            try await response.messages.reduce(into: [String]()) { $0.append($1.recordCid) }
        }
    }
}

/// Runs the built `wharfctl` with `arguments` (output and exit status).
func wharfctl(_ arguments: [String], environment: [String: String] = ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]) async throws -> (
    status: Int32?, output: String
) {
    try await runExecutable(try builtExecutable("wharfctl"), arguments, environment: environment, timeout: .seconds(30))
}
