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
        subcommands: [Identity.self, ClientCommands.self, Peers.self, PushConfig.self])

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
                    gateway.output, text: "instance_id: \(identity.instanceID)\nkeyid: \(identity.keyid)",
                    json: ["instance_id": identity.instanceID, "keyid": identity.keyid])
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
            @Option(help: "the client's keyid (ecdsa.…), from its Settings → Multihost identity") var keyid: String
            @Option(
                name: .customLong("permission"),
                help: "PERMISSION=SCOPE[,SCOPE…], repeatable; \(BackrestPermissionText.names); scopes *, repo:ID, plan:ID")
            var permissions: [String] = []

            func run() async throws {
                try await reportingFailures {
                    let parsed = try permissions.map { text in
                        guard let permission = BackrestPermissionText.permission(text) else {
                            throw CommandFailure.configuration(
                                "--permission: \"\(text)\" is not PERMISSION=SCOPE[,SCOPE…] (\(BackrestPermissionText.names))")
                        }
                        return permission
                    }
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
                        emit(
                            gateway.output, text: "\(client.instanceID)\t\(client.keyid)\t\(permissions.isEmpty ? "-" : permissions)",
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

        func run() async throws {
            try await reportingFailures {
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
            abstract: "Send repos and plans to a client holding read-write-config (a SyncActionSetConfig in proto JSON).",
            discussion: """
                The file holds {"repos": [...], "plans": [...], "reposToDelete": [...], "plansToDelete": [...]} with repos \
                and plans as in backrest's config.json. The hub delivers it at once when the client is connected, \
                otherwise when it next connects.
                """)
        @OptionGroup var gateway: GatewayOptions
        @Option(help: "the client's keyid") var keyid: String
        @Argument(help: "the JSON file, or - for standard input") var file: String

        func run() async throws {
            try await reportingFailures {
                let data: Data
                do {
                    data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
                } catch {
                    throw CommandFailure.configuration("\(file): cannot be read (\(error.localizedDescription))")
                }
                let setConfig: V1sync_SyncStreamItem.SyncActionSetConfig
                do {
                    setConfig = try V1sync_SyncStreamItem.SyncActionSetConfig(jsonUTF8Data: data)
                } catch {
                    throw CommandFailure.configuration("\(file): not a SyncActionSetConfig in proto JSON (\(error))")
                }
                let delivered = try await gateway.withClient(admin: true) { client, options in
                    try await Hub(wrapping: client).pushConfig(
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
}

enum BackrestClientText {
    static func json(_ client: Wharf_Sync_V1_BackrestClient) -> [String: any Sendable] {
        [
            "instance_id": client.instanceID, "keyid": client.keyid, "added_at": client.addedAt,
            "permissions": client.permissions.map(BackrestPermissionText.text),
        ]
    }
}

/// A peer state on one line (`laptop  ecdsa.…  CONNECTED  2026-12-03T10:00:00Z  message`) or as one JSON object.
enum PeerStateText {
    static func show(_ state: V1sync_PeerState, format: OutputFormat) {
        let name = stateName(state.state)
        let heartbeat = TimeText.rfc3339(unixSeconds: Double(state.lastHeartbeatMillis) / 1000)
        emit(
            format, text: "\(state.peerInstanceID)\t\(state.peerKeyid)\t\(name)\t\(heartbeat)\t\(state.statusMessage)",
            json: [
                "peer_instance_id": state.peerInstanceID, "peer_keyid": state.peerKeyid, "state": name,
                "status_message": state.statusMessage, "last_heartbeat_millis": state.lastHeartbeatMillis,
                "known_repos": state.knownRepos.map(\.id), "known_plans": state.knownPlans.map(\.id),
            ])
    }

    /// `CONNECTED` for CONNECTION_STATE_CONNECTED: the proto's name without its prefix.
    static func stateName(_ state: V1sync_ConnectionState) -> String {
        guard let name = ProtoEnumName.name(in: V1sync_PeerState.with { $0.state = state }, field: "state") else {
            return state == .unknown ? "UNKNOWN" : "\(state.rawValue)"
        }
        return name.hasPrefix("CONNECTION_STATE_") ? String(name.dropFirst("CONNECTION_STATE_".count)) : name
    }
}
