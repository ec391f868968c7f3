import ArgumentParser
import GRPCCore
import WharfProto

/// `wharfctl negentropy …`: the relay's peer list and client sessions (administrative: they need the admin
/// token, see AdminCredential).
struct Negentropy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the negentropy service's sync peers and relay sessions.",
        subcommands: [Peers.self, AddPeer.self, RemovePeer.self, Sessions.self, SyncNow.self])

    typealias Client = Orlysync_Negentropy_V1_NegentropyService.Client

    struct Peers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the configured sync peers.")
        @OptionGroup var gateway: GatewayOptions

        func run() async throws {
            try await reportingFailures {
                let peers = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).getPeers(.init(), options: options).peers
                }
                for peer in peers { emit(gateway.output, text: peer, json: ["peer_url": peer]) }
            }
        }
    }

    struct AddPeer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-peer", abstract: "Add a sync peer (checked against WHARF_NEGENTROPY_ALLOWED_PEERS).")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the peer relay's ws:// or wss:// URL") var url: String

        func run() async throws {
            try await reportingFailures {
                _ = try await gateway.withClient(admin: true) { client, options in
                    try await Client(wrapping: client).addPeer(.with { $0.peerURL = url }, options: options)
                }
                emit(gateway.output, text: "added \(url)", json: ["peer_url": url, "added": true])
            }
        }
    }

    struct RemovePeer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove-peer", abstract: "Remove a sync peer.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the peer's URL as listed by `wharfctl negentropy peers`") var url: String

        func run() async throws {
            try await reportingFailures {
                _ = try await gateway.withClient(admin: true) { client, options in
                    try await Client(wrapping: client).removePeer(.with { $0.peerURL = url }, options: options)
                }
                emit(gateway.output, text: "removed \(url)", json: ["peer_url": url, "removed": true])
            }
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the relay's client subscriptions.")
        @OptionGroup var gateway: GatewayOptions

        func run() async throws {
            try await reportingFailures {
                let sessions = try await gateway.withClient(admin: true) { client, options in
                    try await Client(wrapping: client).listSessions(.init(), options: options).sessions
                }
                if gateway.output == .text {
                    TextTable(
                        header: ["CONNECTION", "SUBSCRIPTION", "ROUNDS", "OPENED", "LAST ACTIVITY"],
                        rows: sessions.map { session in
                            [
                                session.connectionID, session.subscriptionID, "\(session.roundCount)",
                                TimeText.rfc3339(unixSeconds: Double(session.createdAt)), TimeText.rfc3339(unixSeconds: Double(session.lastActivity)),
                            ]
                        }
                    ).print()
                    return
                }
                for session in sessions {
                    emit(
                        .json, text: "",
                        json: [
                            "connection_id": session.connectionID, "subscription_id": session.subscriptionID,
                            "rounds": session.roundCount, "created_at": session.createdAt, "last_activity": session.lastActivity,
                        ])
                }
            }
        }
    }

    struct SyncNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sync",
            abstract: "Reconcile with a relay now (NIP-77), following its progress: rounds, have, need, fetched, sent.")
        @OptionGroup var gateway: GatewayOptions
        @Flag(name: .shortAndLong, help: "no progress line") var quiet = false
        @Argument(help: "the relay's ws:// or wss:// URL (checked against WHARF_NEGENTROPY_ALLOWED_PEERS)") var url: String
        @Option(help: "only events created at or after this Unix time") var since: Int64?

        func run() async throws {
            try await reportingFailures {
                let progress = ProgressLine(label: "sync \(url)", total: nil, unit: .items, quiet: quiet)
                let last = try await gateway.withClient(admin: true) { client, options in
                    try await Client(wrapping: client).syncWithPeer(
                        .with { request in
                            request.peerURL = url
                            if let since { request.since = since }
                        }, options: options
                    ) { response in
                        var last = Orlysync_Negentropy_V1_SyncProgress()
                        for try await update in response.messages {
                            // The count of events moved so far drives the line; the rest is its text.
                            progress.show(
                                done: update.fetchedCount &+ update.sentCount,
                                detail: "round \(update.round), have \(update.haveCount), need \(update.needCount)")
                            last = update
                        }
                        return last
                    }
                }
                progress.finish()
                if !last.error.isEmpty {
                    throw CommandFailure.rpc(RPCError(code: .unavailable, message: "sync with \(url) failed: \(last.error)"))
                }
                emit(
                    gateway.output,
                    text:
                        "synced \(url): \(last.round) rounds, have \(last.haveCount), need \(last.needCount), fetched \(last.fetchedCount), sent \(last.sentCount)",
                    json: [
                        "peer_url": url, "rounds": last.round, "have": last.haveCount, "need": last.needCount,
                        "fetched": last.fetchedCount, "sent": last.sentCount, "complete": last.complete,
                    ])
            }
        }
    }
}
