import ArgumentParser
import Foundation
import GRPCCore
import SwiftProtobuf
import WharfProto

/// `wharfctl sync …`: mirrors of other Directories (agntcy.dir.store.v1.SyncService) and their progress
/// (wharf.sync.v1.SyncProgress). `create`, `delete` and `revoke` are administrative (the admin token, see AdminCredential).
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mirror other Directories into this one, and follow the mirrors' progress.",
        subcommands: [Create.self, List.self, Status.self, Delete.self, Revoke.self])

    typealias Client = Agntcy_Dir_Store_V1_SyncService.Client
    typealias ProgressClient = Wharf_Sync_V1_SyncProgress.Client

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start mirroring a remote Directory (checked against WHARF_SYNC_ALLOWED_REMOTES; administrative); prints the sync id.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the remote Directory's address, e.g. http://dir.example.org:50050") var url: String
        @Option(name: .customLong("cid"), help: "mirror only this record (repeatable)") var cids: [String] = []

        func run() async throws {
            try await reportingFailures {
                let id = try await gateway.withClient(admin: true) { client, options in
                    try await Client(wrapping: client).createSync(
                        .with {
                            $0.remoteDirectoryURL = url
                            $0.cids = cids
                        }, options: options
                    ).syncID
                }
                emit(gateway.output, text: id, json: ["sync_id": id, "remote_directory_url": url])
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the syncs in creation order, deleted ones included.")
        @OptionGroup var gateway: GatewayOptions
        @Option(help: "at most this many") var limit: UInt32?
        @Option(help: "skip this many first") var offset: UInt32?

        func run() async throws {
            try await reportingFailures {
                let items = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).listSyncs(
                        .with { request in
                            if let limit { request.limit = limit }
                            if let offset { request.offset = offset }
                        }, options: options
                    ) { response in
                        try await BoundedCollection.collect(response.messages, what: "syncs") { $0 }
                    }
                }
                for item in items {
                    let status = SyncStatusText.name(of: item.status)
                    emit(
                        gateway.output, text: "\(item.syncID)\t\(status)\t\(item.remoteDirectoryURL)",
                        json: ["sync_id": item.syncID, "status": status, "remote_directory_url": item.remoteDirectoryURL])
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a sync's progress counters, one `name: value` line each (or one JSON object).")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the sync id CreateSync returned") var id: String
        @Flag(help: "follow the counters (a progress line on a terminal) until the sync is deleted or failed, or Ctrl-C")
        var watch = false
        @Flag(name: .shortAndLong, help: "with --watch: no progress line, only the final counters") var quiet = false

        func run() async throws {
            try await reportingFailures {
                var progress = try await fetch()
                if watch {
                    let line = ProgressLine(label: "sync \(id)", total: nil, unit: .items, quiet: quiet)
                    while !Self.finished(progress.status) {
                        line.show(
                            done: Int64(clamping: progress.copied),
                            detail: "of \(progress.discovered) discovered, "
                                + "\(progress.rejected) rejected, lag \(progress.lagSeconds) s, \(progress.status)")
                        try await Task.sleep(for: .seconds(1))
                        progress = try await fetch()
                    }
                    line.finish()
                }
                let fields: KeyValuePairs<String, any Sendable> = [
                    "sync_id": progress.syncID, "status": progress.status, "remote_directory_url": progress.remoteDirectoryURL,
                    "method": progress.method, "discovered": progress.discovered, "copied": progress.copied,
                    "already_present": progress.alreadyPresent, "rejected": progress.rejected, "bytes": progress.bytes,
                    "lag_seconds": progress.lagSeconds, "consecutive_failures": progress.consecutiveFailures,
                    "last_round_time": progress.lastRoundTime, "last_error": progress.lastError,
                ]
                emit(
                    gateway.output, text: fields.map { "\($0.key): \($0.value)" }.joined(separator: "\n"),
                    json: Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.value) }))
            }
        }

        private func fetch() async throws -> Wharf_Sync_V1_SyncProgressResponse {
            try await gateway.withClient { client, options in
                try await ProgressClient(wrapping: client).getSyncProgress(.with { $0.syncID = id }, options: options)
            }
        }

        /// A sync that will not change any more (the status as the progress RPC names it).
        static func finished(_ status: String) -> Bool {
            status.hasSuffix("DELETED") || status.hasSuffix("FAILED")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a sync (DELETE_PENDING, then DELETED; administrative).")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the sync id") var id: String

        func run() async throws {
            try await reportingFailures {
                _ = try await gateway.withClient(admin: true) { client, options in
                    try await Client(wrapping: client).deleteSync(.with { $0.syncID = id }, options: options)
                }
                emit(gateway.output, text: "deleting \(id)", json: ["sync_id": id, "status": "SYNC_STATUS_DELETE_PENDING"])
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke every registry credential this node handed to another node (administrative).")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the node id the credentials were issued to") var node: String

        func run() async throws {
            try await reportingFailures {
                let revoked = try await gateway.withClient(admin: true) { client, options in
                    try await ProgressClient(wrapping: client).revokeRegistryCredentials(.with { $0.nodeID = node }, options: options).revoked
                }
                emit(gateway.output, text: "revoked \(revoked) credential(s) of \(node)", json: ["node_id": node, "revoked": revoked])
            }
        }
    }
}

/// A sync status by its name in the proto (`SYNC_STATUS_IN_PROGRESS`), as upstream's clients print it.
enum SyncStatusText {
    static func name(of status: Agntcy_Dir_Store_V1_SyncStatus) -> String {
        ProtoEnumName.name(in: Agntcy_Dir_Store_V1_ListSyncsItem.with { $0.status = status }, field: "status")
            ?? (status == .unspecified ? "SYNC_STATUS_UNSPECIFIED" : "\(status.rawValue)")
    }
}

/// An enum value by its name in the proto, taken from the generated code's JSON mapping rather than spelled
/// out again: `message` has the value set in `field` (its JSON name).
enum ProtoEnumName {
    static func name(in message: some SwiftProtobuf.Message, field: String) -> String? {
        var options = JSONEncodingOptions()
        options.alwaysPrintEnumsAsInts = false
        guard let text = try? message.jsonString(options: options),
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return nil }
        return object[field] as? String
    }
}
