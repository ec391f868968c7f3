import ArgumentParser
import Foundation
import GRPCCore
import ServiceContracts
import SwiftProtobuf
import WharfProto
import WharfRuntime

/// `wharfctl backrest …`: the backrest multihost hub (wharf.sync.v1.BackrestHub, v1sync.BackrestSyncStateService).
/// `identity` is open (clients need it in their known_hosts); everything else needs the admin token.
struct Backrest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the backrest multihost hub: its identity, the clients it accepts, their peer states, config pushes.",
        subcommands: [Identity.self, ClientCommands.self, Pair.self, SharedRepo.self, Peers.self, PushConfig.self])

    typealias Hub = Wharf_Sync_V1_BackrestHub.Client

    struct Identity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the hub's instance id and keyid, as a backrest client's known_hosts entry needs them.")
        @OptionGroup var gateway: GatewayOptions

        func run() async throws {
            try await reportingFailures {
                let identity = try await gateway.withClient { client, options in
                    try await Hub(wrapping: client).getIdentity(.init(), options: options)
                }
                emit(
                    gateway.output,
                    text: """
                        instance_id: \(identity.instanceID)
                        keyid: \(identity.keyid)   (backrest 1.11–1.12)
                        ed25519_keyid: \(identity.ed25519Keyid.isEmpty ? "- (the hub has no ed25519 key; see its log)" : identity.ed25519Keyid)   (backrest 1.13+)
                        """,
                    json: ["instance_id": identity.instanceID, "keyid": identity.keyid, "ed25519_keyid": identity.ed25519Keyid])
            }
        }
    }

    struct ClientCommands: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "client", abstract: "The backrest clients the hub accepts (administrative).",
            subcommands: [Add.self, Remove.self, List.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Accept a client (or replace its entry): its instance id, keyid and permissions.")
            @OptionGroup var gateway: GatewayOptions
            @Option(help: "the client's instance id (its backrest instance name)") var instanceId: String
            @Option(help: "the client's keyid (ecdsa.… or ed25519.…), from its Settings → Multihost identity") var keyid: String
            @Option(
                name: .customLong("permission"),
                help: "PERMISSION=SCOPE[,SCOPE…], repeatable; \(BackrestPermissionText.names); scopes *, repo:ID, plan:ID")
            var permissions: [String] = []

            func run() async throws {
                try await reportingFailures {
                    let parsed = try Backrest.parsePermissions(permissions)
                    let added = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).addClient(
                            .with {
                                $0.instanceID = instanceId
                                $0.keyid = keyid
                                $0.permissions = parsed
                            }, options: options)
                    }
                    emit(gateway.output, text: "accepted \(added.instanceID) (\(added.keyid))", json: BackrestClientText.json(added))
                }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Stop accepting a client; its stored operations stay.")
            @OptionGroup var gateway: GatewayOptions
            @Option(help: "the client's keyid") var keyid: String

            func run() async throws {
                try await reportingFailures {
                    let removed = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).removeClient(.with { $0.keyid = keyid }, options: options).removed
                    }
                    guard removed else {
                        throw CommandFailure.rpc(RPCError(code: .notFound, message: "no authorized backrest client has keyid \(keyid)"))
                    }
                    emit(gateway.output, text: "removed \(keyid)", json: ["keyid": keyid, "removed": true])
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the accepted clients: instance id, keyid, permissions.")
            @OptionGroup var gateway: GatewayOptions

            func run() async throws {
                try await reportingFailures {
                    let clients = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).listClients(.init(), options: options).clients
                    }
                    for client in clients {
                        let permissions = client.permissions.map(BackrestPermissionText.text).joined(separator: " ")
                        let paired = client.pairedWithToken.isEmpty ? "" : "\tpaired with \(client.pairedWithToken)"
                        emit(
                            gateway.output,
                            text: "\(client.instanceID)\t\(client.keyid)\t\(permissions.isEmpty ? "-" : permissions)\(paired)",
                            json: BackrestClientText.json(client))
                    }
                }
            }
        }
    }

    struct Peers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every peer's connection state; with --watch, keep printing each change (administrative).")
        @OptionGroup var gateway: GatewayOptions
        @Flag(help: "keep the stream open and print every change as it happens") var watch = false
        @Flag(help: "print the keys the hub refused instead (failed pairings, unknown keys), newest first, with the reason")
        var refused = false

        func run() async throws {
            try await reportingFailures {
                if refused {
                    let peers = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).listRefusedPeers(.init(), options: options).peers
                    }
                    for peer in peers { PeerStateText.show(peer, format: gateway.output) }
                    return
                }
                var options = try gateway.callOptions()
                if watch { options.timeout = nil }
                try await gateway.withClient(admin: true) { client, _ in
                    try await V1sync_BackrestSyncStateService.Client(wrapping: client).getPeerSyncStatesStream(
                        .with { $0.subscribe = watch }, options: options
                    ) { response in
                        for try await state in response.messages { PeerStateText.show(state, format: gateway.output) }
                    }
                }
            }
        }
    }

    struct PushConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send repos and plans to a connected client (a SyncActionSetConfig in proto JSON).",
            discussion: """
                The file holds {"repos": [...], "plans": [...], "reposToDelete": [...], "plansToDelete": [...]} with repos \
                and plans as in backrest's config.json. By default it goes through backrest's own \
                BackrestSyncStateService.SetRemoteClientConfig: delivered now to the client, on whichever hub replica holds \
                it, or refused (NOT_FOUND) when it is not connected. With --queue the hub keeps it for the client's next \
                connection instead. A 1.13+ client applies only what its own grants to the hub allow and disconnects on \
                anything else; a 1.11–1.12 client needs read-write-config here.
                """)
        @OptionGroup var gateway: GatewayOptions
        @Option(help: "the client's keyid") var keyid: String
        @Flag(help: "keep it for the client's next connection when it is not connected now") var queue = false
        @Argument(help: "the JSON file, or - for standard input") var file: String

        func run() async throws {
            try await reportingFailures {
                let setConfig = try ProtoJSONFile.read(
                    file, as: V1sync_SyncStreamItem.SyncActionSetConfig.self, described: "a SyncActionSetConfig in proto JSON",
                    failure: CommandFailure.configuration)
                let delivered = try await gateway.withClient(admin: true) { client, options in
                    guard queue else {
                        _ = try await V1sync_BackrestSyncStateService.Client(wrapping: client).setRemoteClientConfig(
                            .with {
                                $0.peerKeyid = keyid
                                $0.repos = setConfig.repos
                                $0.plans = setConfig.plans
                                $0.reposToDelete = setConfig.reposToDelete
                                $0.plansToDelete = setConfig.plansToDelete
                            }, options: options)
                        return true
                    }
                    return try await Hub(wrapping: client).pushConfig(
                        .with {
                            $0.keyid = keyid; $0.setConfig = setConfig
                        }, options: options
                    ).delivered
                }
                emit(
                    gateway.output, text: delivered ? "delivered to \(keyid)" : "queued for \(keyid) (delivered when it connects)",
                    json: ["keyid": keyid, "delivered": delivered])
            }
        }
    }

    /// Pairing tokens for backrest 1.13+ clients: `pair` makes one, `pair list`, `pair revoke`.
    struct Pair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pairing tokens for backrest 1.13+ clients (administrative): create one, list them, revoke one.",
            subcommands: [Create.self, List.self, Revoke.self], defaultSubcommand: Create.self)

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print a new pairing token: a client's operator pastes it into backrest (Settings → Multihost → add a known host).",
                discussion: """
                    The token reads <hub ed25519 keyid>:<secret>#<hub instance id> and is shown once; the hub keeps only a \
                    hash of its secret. A client that pairs with it becomes an authorized client with these permissions.
                    """)
            @OptionGroup var gateway: GatewayOptions
            @Option(help: "how long the token pairs clients: 30m, 24h, 7d (at most 365d)") var ttl: String = "24h"
            @Option(help: "how many clients may pair with it; 0 for any number until it expires") var uses: Int32 = 1
            @Option(help: "a name for the token, shown by pair list") var label: String = ""
            @Option(
                name: .customLong("permission"),
                help: "PERMISSION=SCOPE[,SCOPE…], repeatable; \(BackrestPermissionText.names); scopes *, repo:ID, plan:ID")
            var permissions: [String] = []

            func run() async throws {
                try await reportingFailures {
                    guard let duration = EnvironmentReader.parseDuration(ttl), duration >= .seconds(1) else {
                        throw CommandFailure.configuration("--ttl: \"\(ttl)\" is not a duration such as 30m, 24h or 7d")
                    }
                    guard uses >= 0 else { throw CommandFailure.configuration("--uses must be 0 (any number) or more") }
                    let parsed = try Backrest.parsePermissions(permissions)
                    let created = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).createPairingToken(
                            .with {
                                $0.label = label
                                $0.ttlSeconds = duration.components.seconds
                                $0.maxUses = uses
                                $0.permissions = parsed
                            }, options: options)
                    }
                    var json = PairingTokenText.json(created.pairingToken)
                    json["token"] = created.token
                    emit(gateway.output, text: created.token, json: json)
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List the tokens that can still pair a client: id, label, expiry, uses, permissions (never the secrets).")
            @OptionGroup var gateway: GatewayOptions

            func run() async throws {
                try await reportingFailures {
                    let tokens = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).listPairingTokens(.init(), options: options).tokens
                    }
                    for token in tokens {
                        let uses = token.maxUses == 0 ? "\(token.uses)/unlimited" : "\(token.uses)/\(token.maxUses)"
                        let permissions = token.permissions.map(BackrestPermissionText.text).joined(separator: " ")
                        emit(
                            gateway.output,
                            text:
                                "\(token.id)\t\(ServerText.safe(token.label.isEmpty ? "-" : token.label, singleLine: true))\texpires \(token.expiresAt)\t\(uses)\t"
                                + (permissions.isEmpty ? "-" : ServerText.safe(permissions, singleLine: true)),
                            json: PairingTokenText.json(token))
                    }
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Revoke a token; the clients it paired stay authorized.")
            @OptionGroup var gateway: GatewayOptions
            @Argument(help: "the token's id (pt-…), from pair list") var id: String

            func run() async throws {
                try await reportingFailures {
                    _ = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).revokePairingToken(.with { $0.id = id }, options: options)
                    }
                    emit(gateway.output, text: "revoked \(id)", json: ["id": id, "revoked": true])
                }
            }
        }
    }

    /// The repos the hub shares with 1.13+ clients: `shared-repo put FILE`, `shared-repo list`, `shared-repo remove ID`.
    struct SharedRepo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shared-repo", abstract: "The repos the hub shares with backrest 1.13+ clients (administrative).",
            subcommands: [Put.self, List.self, Remove.self])

        struct Put: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Share a repo (or replace the shared repo with its id): a v1.Repo in proto JSON, as in backrest's config.json.")
            @OptionGroup var gateway: GatewayOptions
            @Argument(help: "the JSON file, or - for standard input") var file: String

            func run() async throws {
                try await reportingFailures {
                    let repo = try ProtoJSONFile.read(
                        file, as: V1_Repo.self, described: "a repo in proto JSON", failure: CommandFailure.configuration)
                    _ = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).putSharedRepo(.with { $0.repo = repo }, options: options)
                    }
                    emit(gateway.output, text: "sharing \(repo.id)", json: ["id": repo.id, "shared": true])
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the shared repos: id, guid, uri.")
            @OptionGroup var gateway: GatewayOptions

            func run() async throws {
                try await reportingFailures {
                    let repos = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).listSharedRepos(.init(), options: options).repos
                    }
                    for repo in repos {
                        emit(
                            gateway.output,
                            text: [repo.id, repo.guid, repo.uri].map { ServerText.safe($0, singleLine: true) }.joined(separator: "\t"),
                            json: ["id": repo.id, "guid": repo.guid, "uri": repo.uri])
                    }
                }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Stop sharing a repo; clients keep what they were given.")
            @OptionGroup var gateway: GatewayOptions
            @Argument(help: "the repo's id") var id: String

            func run() async throws {
                try await reportingFailures {
                    _ = try await gateway.withClient(admin: true) { client, options in
                        try await Hub(wrapping: client).removeSharedRepo(.with { $0.id = id }, options: options)
                    }
                    emit(gateway.output, text: "no longer sharing \(id)", json: ["id": id, "shared": false])
                }
            }
        }
    }

    static func parsePermissions(_ texts: [String]) throws -> [V1_Multihost.Permission] {
        try texts.map { text in
            guard let permission = BackrestPermissionText.permission(text) else {
                throw CommandFailure.configuration(
                    "--permission: \"\(text)\" is not PERMISSION=SCOPE[,SCOPE…] (\(BackrestPermissionText.names))")
            }
            return permission
        }
    }
}

enum PairingTokenText {
    static func json(_ token: Wharf_Sync_V1_PairingToken) -> [String: any Sendable] {
        [
            "id": token.id, "label": token.label, "created_at": token.createdAt, "expires_at": token.expiresAt,
            "max_uses": token.maxUses, "uses": token.uses, "permissions": token.permissions.map(BackrestPermissionText.text),
        ]
    }
}

enum BackrestClientText {
    static func json(_ client: Wharf_Sync_V1_BackrestClient) -> [String: any Sendable] {
        [
            "instance_id": client.instanceID, "keyid": client.keyid, "added_at": client.addedAt,
            "permissions": client.permissions.map(BackrestPermissionText.text), "paired_with_token": client.pairedWithToken,
            "protocol": PeerStateText.protocolVersion(keyid: client.keyid),
        ]
    }
}

/// A peer state on one line (`laptop  ecdsa.…  protocol 1  CONNECTED  2026-12-03T10:00:00Z  message`) or as one JSON
/// object.
enum PeerStateText {
    static func show(_ state: V1sync_PeerState, format: OutputFormat) {
        let name = stateName(state.state)
        let heartbeat = TimeText.rfc3339(unixSeconds: Double(state.lastHeartbeatMillis) / 1000)
        let version = protocolVersion(keyid: state.peerKeyid)
        emit(
            format,
            text:
                "\(ServerText.safe(state.peerInstanceID, singleLine: true))\t\(ServerText.safe(state.peerKeyid, singleLine: true))\tprotocol \(version)\t\(name)\t\(heartbeat)\t\(ServerText.safe(state.statusMessage, singleLine: true))",
            json: [
                "peer_instance_id": state.peerInstanceID, "peer_keyid": state.peerKeyid, "state": name, "protocol": version,
                "status_message": state.statusMessage, "last_heartbeat_millis": state.lastHeartbeatMillis,
                "known_repos": state.knownRepos.map(\.id), "known_plans": state.knownPlans.map(\.id),
            ])
    }

    /// The sync protocol a keyid speaks: ed25519 keys are backrest 1.13+'s (protocol 3), P-256 (`ecdsa.`) 1.11–1.12's.
    static func protocolVersion(keyid: String) -> Int { keyid.hasPrefix("ed25519.") ? 3 : 1 }

    /// `CONNECTED` for CONNECTION_STATE_CONNECTED: the proto's name without its prefix.
    static func stateName(_ state: V1sync_ConnectionState) -> String {
        guard let name = ProtoEnumName.name(in: V1sync_PeerState.with { $0.state = state }, field: "state") else {
            return state == .unknown ? "UNKNOWN" : "\(state.rawValue)"
        }
        return name.hasPrefix("CONNECTION_STATE_") ? String(name.dropFirst("CONNECTION_STATE_".count)) : name
    }
}
