/// Who may call what: every RPC the descriptor set defines and every HTTP path Wharf serves, with the one kind
/// of caller it admits. The authorization tests call each RPC without a credential, with a wrong one and with
/// the right one and compare the answers with this table; README's "Trust" section lists the same rows
/// (a test compares them), so the document cannot drift from what the services do.
enum Caller: String, CaseIterable, Sendable {
    /// No credential: the public API of an upstream protocol (agntcy Directory, castore, routing, health).
    case anyone
    /// Anyone who connects to the relay's WebSocket and opens subscriptions or negentropy sessions there.
    case relayClient = "relay client"
    /// A relay front-end speaking for its own WebSocket clients, with the node's front-end token
    /// (`wharf-frontend-token`, `WHARF_NEGENTROPY_FRONTEND_TOKEN`) or the admin token; it reaches only the
    /// sessions it opened.
    case relayFrontEnd = "relay front-end"
    /// A backrest client the operator authorized, proven by its signed handshake (spec/backrest-sync.md).
    case backrestPeer = "backrest peer"
    /// Another node, with the secret or credentials this node issued or shares with it.
    case nodeCredential = "node credential"
    /// An operator, with the node's admin token (`wharf-admin-token`).
    case admin
}

enum AuthorizationTable {
    static let rpcs: [String: Caller] = [
        "/agntcy.dir.store.v1.StoreService/Push": .anyone,
        "/agntcy.dir.store.v1.StoreService/Pull": .anyone,
        "/agntcy.dir.store.v1.StoreService/Lookup": .anyone,
        "/agntcy.dir.store.v1.StoreService/Delete": .anyone,
        "/agntcy.dir.store.v1.StoreService/PushReferrer": .anyone,
        "/agntcy.dir.store.v1.StoreService/PullReferrer": .anyone,
        "/wharf.store.v1.RegistryCredentials/Issue": .admin,
        "/wharf.store.v1.RegistryCredentials/Revoke": .admin,
        "/wharf.store.v1.RegistryCredentials/List": .admin,
        "/wharf.store.v1.RecordCatalog/Summarize": .anyone,
        // Open as a Directory's records are (mirrors between nodes); places are kept for this node's own services.
        "/wharf.store.v1.RecordReconciliation/Reconcile": .anyone,
        "/wharf.store.v1.RecordReconciliation/Initiate": .anyone,
        "/wharf.store.v1.RecordReconciliation/WatchRecords": .anyone,
        "/wharf.store.v1.RecordTransfer/ExportRecords": .anyone,
        "/wharf.store.v1.RecordTransfer/ImportRecords": .anyone,
        "/agntcy.dir.store.v1.SyncService/CreateSync": .admin,
        "/agntcy.dir.store.v1.SyncService/ListSyncs": .anyone,
        "/agntcy.dir.store.v1.SyncService/GetSync": .anyone,
        "/agntcy.dir.store.v1.SyncService/DeleteSync": .admin,
        "/agntcy.dir.store.v1.SyncService/RequestRegistryCredentials": .anyone,
        "/wharf.sync.v1.SyncProgress/GetSyncProgress": .anyone,
        "/wharf.sync.v1.SyncProgress/RevokeRegistryCredentials": .admin,
        "/v1sync.BackrestSyncService/Sync": .backrestPeer,
        "/v1sync.BackrestSyncStateService/GetPeerSyncStatesStream": .admin,
        "/v1sync.BackrestSyncStateService/SetRemoteClientConfig": .admin,
        "/wharf.sync.v1.BackrestHub/GetIdentity": .anyone,
        "/wharf.sync.v1.BackrestHub/AddClient": .admin,
        "/wharf.sync.v1.BackrestHub/RemoveClient": .admin,
        "/wharf.sync.v1.BackrestHub/ListClients": .admin,
        "/wharf.sync.v1.BackrestHub/PushConfig": .admin,
        "/wharf.sync.v1.BackrestHub/CreatePairingToken": .admin,
        "/wharf.sync.v1.BackrestHub/ListPairingTokens": .admin,
        "/wharf.sync.v1.BackrestHub/RevokePairingToken": .admin,
        "/wharf.sync.v1.BackrestHub/ListRefusedPeers": .admin,
        "/wharf.sync.v1.BackrestHub/PutSharedRepo": .admin,
        "/wharf.sync.v1.BackrestHub/RemoveSharedRepo": .admin,
        "/wharf.sync.v1.BackrestHub/ListSharedRepos": .admin,
        "/wharf.sync.v1.BackrestHub/ListOperations": .admin,
        "/routing.v1.RoutingService/Publish": .anyone,
        "/routing.v1.RoutingService/Unpublish": .anyone,
        "/routing.v1.RoutingService/Search": .anyone,
        "/routing.v1.RoutingService/List": .anyone,
        "/wharf.routing.v1.PeerAnnouncements/Announce": .nodeCredential,
        "/wharf.routing.v1.RecordPublishing/PublishMany": .anyone,
        "/tvix.castore.v1.BlobService/Stat": .anyone,
        "/tvix.castore.v1.BlobService/Read": .anyone,
        "/tvix.castore.v1.BlobService/Put": .anyone,
        "/snix.castore.v1.BlobService/Stat": .anyone,
        "/snix.castore.v1.BlobService/Read": .anyone,
        "/snix.castore.v1.BlobService/Put": .anyone,
        "/orlysync.negentropy.v1.NegentropyService/Ready": .anyone,
        "/orlysync.negentropy.v1.NegentropyService/Start": .admin,
        "/orlysync.negentropy.v1.NegentropyService/Stop": .admin,
        "/orlysync.negentropy.v1.NegentropyService/HandleNegOpen": .relayFrontEnd,
        "/orlysync.negentropy.v1.NegentropyService/HandleNegMsg": .relayFrontEnd,
        "/orlysync.negentropy.v1.NegentropyService/HandleNegClose": .relayFrontEnd,
        "/orlysync.negentropy.v1.NegentropyService/SyncWithPeer": .admin,
        "/orlysync.negentropy.v1.NegentropyService/GetSyncStatus": .anyone,
        "/orlysync.negentropy.v1.NegentropyService/GetPeers": .anyone,
        "/orlysync.negentropy.v1.NegentropyService/AddPeer": .admin,
        "/orlysync.negentropy.v1.NegentropyService/RemovePeer": .admin,
        "/orlysync.negentropy.v1.NegentropyService/TriggerSync": .admin,
        "/orlysync.negentropy.v1.NegentropyService/GetPeerSyncState": .anyone,
        "/orlysync.negentropy.v1.NegentropyService/ListSessions": .admin,
        "/orlysync.negentropy.v1.NegentropyService/CloseSession": .admin,
        "/wharf.negentropy.v1.RelayActivity/ListReconciliations": .admin,
        "/wharf.runtime.v1.ReplicaStatus/Describe": .admin,
        "/grpc.health.v1.Health/Check": .anyone,
        "/grpc.health.v1.Health/Watch": .anyone,
        "/wharf.gateway.v1.GatewayStatus/ListRoutes": .admin,
    ]

    /// HTTP paths outside gRPC: (listener, path, who).
    static let http: [(listener: String, path: String, caller: Caller)] = [
        ("relay (`WHARF_RELAY_LISTEN`)", "WebSocket `/` (NIP-01, NIP-77)", .relayClient),
        ("store OCI registry (`WHARF_STORE_OCI_LISTEN`)", "`GET /v2/…` (read-only; basic auth with registry credentials)", .nodeCredential),
        ("metrics (`WHARF_METRICS_LISTEN`)", "`GET /metrics`, `GET /healthz`", .anyone),
    ]

    /// The README's rows for this table, in its order: `| what | who |`.
    static var markdownRows: [String] {
        let services = Dictionary(grouping: rpcs.keys.sorted()) { path in String(path.split(separator: "/").first ?? "") }
        var rows: [String] = []
        for service in services.keys.sorted() {
            let paths = services[service] ?? []
            for caller in Caller.allCases {
                let methods = paths.filter { rpcs[$0] == caller }.map { String($0.split(separator: "/").last ?? "") }
                guard !methods.isEmpty else { continue }
                rows.append("| `\(service)`: \(methods.joined(separator: ", ")) | \(caller.rawValue) |")
            }
        }
        for entry in http { rows.append("| \(entry.listener): \(entry.path) | \(entry.caller.rawValue) |") }
        return rows
    }
}
