import Foundation
import Logging
import PostgresNIO
import ServiceContracts
import WharfProto
import WharfRuntime

/// The repos the hub shares with backrest 1.13+ clients (backrest's repos marked `shared`), in PostgreSQL so every
/// replica sends the same set. Each goes to a client as it is, marked shared with the hub as its origin.
public struct SharedRepos: Sendable {
    let client: PostgresClient
    let events: EventBus
    let logger: Logger

    public static let maximumCount = 1_000
    public static let maximumRepoBytes = 64 << 10

    public init(client: PostgresClient, events: EventBus, logger: Logger) {
        self.client = client
        self.events = events
        self.logger = logger
    }

    /// What is wrong with a repo to share, or nil: backrest needs its id, uri and guid.
    public static func problem(_ repo: V1_Repo) -> String? {
        if let problem = BackrestClients.instanceIDProblem(repo.id) {
            return "repo id: \(problem.replacingOccurrences(of: "instance id", with: "it"))"
        }
        guard !repo.uri.isEmpty, !repo.guid.isEmpty else { return "a shared repo needs its uri and guid (clients match repos by guid)" }
        guard let bytes = try? repo.serializedBytes() as [UInt8], bytes.count <= maximumRepoBytes else {
            return "a shared repo is at most \(maximumRepoBytes) bytes"
        }
        guard PostgresText.canStoreAll([repo.uri, repo.guid]) else { return "a NUL character (U+0000) in the repo" }
        return nil
    }

    public func put(_ repo: V1_Repo) async throws {
        let bytes = ByteBuffer(bytes: try repo.serializedBytes() as [UInt8])
        let rows = try await client.query(
            """
            INSERT INTO backrest.shared_repos (id, repo)
            SELECT \(repo.id), \(bytes) WHERE (SELECT count(*) FROM backrest.shared_repos WHERE id <> \(repo.id)) < \(Self.maximumCount)
            ON CONFLICT (id) DO UPDATE SET repo = excluded.repo, updated_at = now()
            RETURNING 1
            """, logger: logger)
        guard try await rows.decode(Int.self).first(where: { _ in true }) != nil else { throw TooMany() }
        await events.publishIgnoringFailure(BackrestSharedReposChanged())
    }

    public struct TooMany: Error {}

    public func remove(id: String) async throws -> Bool {
        guard PostgresText.canStore(id) else { return false }
        let rows = try await client.query("DELETE FROM backrest.shared_repos WHERE id = \(id) RETURNING 1", logger: logger)
        let removed = try await rows.decode(Int.self).first(where: { _ in true }) != nil
        if removed { await events.publishIgnoringFailure(BackrestSharedReposChanged()) }
        return removed
    }

    public func all() async throws -> [V1_Repo] {
        let rows = try await client.query("SELECT repo FROM backrest.shared_repos ORDER BY id LIMIT \(Self.maximumCount)", logger: logger)
        var repos: [V1_Repo] = []
        for try await bytes in rows.decode(ByteBuffer.self) { repos.append(try V1_Repo(serializedBytes: Array(bytes.readableBytesView))) }
        return repos
    }

    /// Changes from now on (Redis; hints only).
    func changes() -> AsyncStream<BackrestSharedReposChanged> { events.events(of: BackrestSharedReposChanged.self) }

    /// The shared repos `peer` may receive (PERMISSION_RECEIVE_SHARED_REPOS on each), each marked as backrest 1.13
    /// marks a pushed repo: `shared` (field 13) and `origin_instance_id` (14), fields Wharf's 1.12-era v1.Repo keeps as
    /// unknown fields and sends on as they are.
    static func offered(_ repos: [V1_Repo], to peer: BackrestClients.Client, hubInstanceID: String) throws -> [V1_Repo] {
        let marks: [UInt8] = try Wharf_Backrest_Protocol3_RepoSharing.with {
            $0.shared = true
            $0.originInstanceID = hubInstanceID
        }.serializedBytes()
        return try repos.filter { peer.allows(BackrestPermissionText.receiveSharedRepos, .repo($0.id)) }.map { repo in
            try V1_Repo(serializedBytes: (try repo.serializedBytes() as [UInt8]) + marks)
        }
    }
}
