import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// `wharf.store.v1.RegistryCredentials`: issues and revokes the registry's credentials for the sync service
/// and lists them without their passwords (every RPC is administrative: the admin token is checked by the host's AdminBoundaryInterceptor).
struct RegistryCredentialsService: Wharf_Store_V1_RegistryCredentials.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [
        Wharf_Store_V1_RegistryCredentials.Method.Issue.descriptor, Wharf_Store_V1_RegistryCredentials.Method.Revoke.descriptor,
        Wharf_Store_V1_RegistryCredentials.Method.List.descriptor,
    ]

    let store: RegistryCredentialStore
    let settings: StoreSettings
    let logger: Logger

    func issue(request: Wharf_Store_V1_IssueCredentialsRequest, context: ServerContext) async throws -> Wharf_Store_V1_IssuedCredentials {
        let node = try Self.nodeID(request.nodeID)
        guard !settings.registryAdvertise.isEmpty else {
            throw RPCError(code: .failedPrecondition, message: "this store runs no registry (WHARF_STORE_OCI_LISTEN=off)")
        }
        let requested = request.ttlSeconds == 0 ? settings.maximumCredentialTTL : .seconds(Int64(request.ttlSeconds))
        let ttl = min(requested, settings.maximumCredentialTTL)
        let outcome = try await withLoggedFailure(
            "issue registry credentials", logger: logger, "registry credential storage failed",
            as: Self.unavailable
        ) { () async throws -> RegistryCredentialStore.Issued? in
            do {
                return try await store.issue(nodeID: node, ttl: ttl)
            } catch is RegistryCredentialStore.TooMany {
                return nil
            }
        }
        guard let issued = outcome else {
            throw RPCError(
                code: .resourceExhausted,
                message: "\(RegistryCredentialStore.maximumLive) registry credentials are live; "
                    + "wait for some to expire or revoke a node's")
        }
        logger.info("registry credentials issued", metadata: ["node": "\(node)", "username": "\(issued.username)"])
        return .with {
            $0.registryAddress = settings.registryAdvertise
            $0.username = issued.username
            $0.password = issued.password
            $0.expiresAt = Int64(issued.expiresAt.timeIntervalSince1970)
        }
    }

    func revoke(request: Wharf_Store_V1_RevokeCredentialsRequest, context: ServerContext) async throws -> Wharf_Store_V1_RevokeCredentialsResponse {
        let node = try Self.nodeID(request.nodeID)
        let revoked = try await withLoggedFailure(
            "revoke registry credentials", logger: logger, "registry credential storage failed",
            as: Self.unavailable
        ) {
            try await store.revoke(nodeID: node)
        }
        logger.notice("registry credentials revoked", metadata: ["node": "\(node)", "count": "\(revoked)"])
        return .with { $0.revoked = UInt32(clamping: revoked) }
    }

    /// Listed at most (a page of the console).
    static let maximumListed = 1_000

    func list(request: Wharf_Store_V1_ListCredentialsRequest, context: ServerContext) async throws -> Wharf_Store_V1_ListCredentialsResponse {
        guard request.limit <= Self.maximumListed else {
            throw RPCError(code: .invalidArgument, message: "limit \(request.limit) is above \(Self.maximumListed)")
        }
        let limit = request.limit == 0 ? 100 : Int(request.limit)
        let listed = try await withLoggedFailure(
            "list registry credentials", logger: logger, "registry credential storage failed", as: Self.unavailable
        ) {
            try await store.list(limit: limit)
        }
        return .with { response in
            response.credentials = listed.map { credential in
                .with {
                    $0.username = credential.username
                    $0.nodeID = credential.nodeID
                    $0.issuedAt = Int64(credential.issuedAt.timeIntervalSince1970)
                    $0.expiresAt = Int64(credential.expiresAt.timeIntervalSince1970)
                    $0.revokedAt = credential.revokedAt.map { Int64($0.timeIntervalSince1970) } ?? 0
                }
            }
        }
    }

    private static func nodeID(_ text: String) throws -> String {
        guard !text.isEmpty else { throw RPCError(code: .invalidArgument, message: "node_id is required") }
        guard text.utf8.count <= RegistryCredentialStore.maximumNodeIDBytes, PostgresText.canStore(text) else {
            throw RPCError(
                code: .invalidArgument,
                message: "node_id is longer than \(RegistryCredentialStore.maximumNodeIDBytes) bytes or contains NUL")
        }
        return text
    }

    private static func unavailable(_ operation: String) -> RPCError {
        RPCError(code: .unavailable, message: "\(operation): the store database is unavailable")
    }
}
