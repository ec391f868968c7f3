import ArgumentParser
import Foundation
import GRPCCore
import SwiftProtobuf
import WharfProto

/// `wharfctl record …`: records in the store by CID (agntcy.dir.store.v1.StoreService), as dirctl's push and pull.
struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push, pull, look up and delete records in the store.",
        subcommands: [Push.self, Pull.self, Lookup.self, Delete.self, SignInfo.self])

    typealias Client = Agntcy_Dir_Store_V1_StoreService.Client

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store JSON records (an OASF record per file, - for standard input); prints each CID.")
        @OptionGroup var gateway: GatewayOptions
        @Flag(help: "also publish each record in routing, so List and Search find it") var publish = false
        @Argument(help: "record files (JSON objects); - reads one from standard input") var files: [String]

        func run() async throws {
            try await reportingFailures {
                guard !files.isEmpty else { throw CommandFailure.configuration("record push: name at least one file, or - for standard input") }
                let records = try files.map { file in
                    try Agntcy_Dir_Core_V1_Record.with { $0.data = try RecordFile.read(file) }
                }
                let cids = try await gateway.withClient { client, options in
                    let refs = try await Client(wrapping: client).push(metadata: [:], options: options) { writer in
                        try await writer.write(contentsOf: records)
                    } onResponse: { response in
                        try await BoundedCollection.collect(response.messages, what: "CIDs") { $0.cid }
                    }
                    if publish {
                        for cid in refs { try await Routing.setPublished(true, cid, client: client, options: options) }
                    }
                    return refs
                }
                guard cids.count == records.count else {
                    throw CommandFailure.rpc(
                        RPCError(code: .internalError, message: "the store answered \(cids.count) CIDs for \(records.count) records"))
                }
                for (file, cid) in zip(files, cids) {
                    emit(gateway.output, text: cid, json: ["cid": cid, "file": file, "published": publish])
                }
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print records by CID, as JSON.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "record CIDs") var cids: [String]

        func run() async throws {
            try await reportingFailures {
                let records = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).pull(metadata: [:], options: options) { writer in
                        try await writer.write(contentsOf: cids.map { cid in .with { $0.cid = cid } })
                    } onResponse: { response in
                        try await BoundedCollection.collect(response.messages, what: "records") { $0 }
                    }
                }
                for (cid, record) in zip(cids, records) {
                    let json = try record.data.jsonString()
                    switch gateway.output {
                    case .text: emit(.text, text: json, json: [:])
                    // The record as it is, inside the result object (keys in order, as every JSON result).
                    case .json: emit(.text, text: "{\"cid\":\(JSONText.quoted(cid)),\"record\":\(json)}", json: [:])
                    }
                }
            }
        }
    }

    struct Lookup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print records' metadata: CID, schema version, creation time, annotations.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "record CIDs") var cids: [String]

        func run() async throws {
            try await reportingFailures {
                let metas = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).lookup(metadata: [:], options: options) { writer in
                        try await writer.write(contentsOf: cids.map { cid in .with { $0.cid = cid } })
                    } onResponse: { response in
                        try await BoundedCollection.collect(response.messages, what: "record metadata answers") { $0 }
                    }
                }
                for meta in metas {
                    let annotations = meta.annotations.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                    emit(
                        gateway.output, text: "\(meta.cid)\t\(meta.schemaVersion)\t\(meta.createdAt)\t\(annotations)",
                        json: ["cid": meta.cid, "schema_version": meta.schemaVersion, "created_at": meta.createdAt, "annotations": meta.annotations])
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete records by CID.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "record CIDs") var cids: [String]

        func run() async throws {
            try await reportingFailures {
                _ = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).delete(metadata: [:], options: options) { writer in
                        try await writer.write(contentsOf: cids.map { cid in .with { $0.cid = cid } })
                    } onResponse: { response in
                        try response.message
                    }
                }
                for cid in cids { emit(gateway.output, text: "deleted \(cid)", json: ["cid": cid, "deleted": true]) }
            }
        }
    }

    struct SignInfo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-info", abstract: "Print a record's signature and public key, if it has them.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "a record CID") var cid: String

        func run() async throws {
            try await reportingFailures {
                let answers = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).pullReferrer(metadata: [:], options: options) { writer in
                        try await writer.write(
                            .with {
                                $0.recordRef.cid = cid; $0.pullSignature = true
                            })
                        try await writer.write(
                            .with {
                                $0.recordRef.cid = cid; $0.pullPublicKey = true
                            })
                    } onResponse: { response in
                        try await BoundedCollection.collect(response.messages, what: "referrers") { $0 }
                    }
                }
                let signature = answers.first { $0.signature.signature.isEmpty == false }?.signature
                let publicKey = answers.compactMap { answer -> String? in
                    if case .publicKey(let key)? = answer.response, !key.isEmpty { return key }
                    return nil
                }.first
                var json: [String: any Sendable] = ["cid": cid, "signed": signature != nil]
                if let signature {
                    json["signature"] = signature.signature
                    json["annotations"] = signature.annotations
                }
                if let publicKey { json["public_key"] = publicKey }
                let text = [
                    "signature: \(signature?.signature ?? "(none)")",
                    "public_key: \(publicKey ?? "(none)")",
                ].joined(separator: "\n")
                emit(gateway.output, text: text, json: json)
            }
        }
    }
}

/// A record file: a JSON object, read from a path or standard input (`-`).
enum RecordFile {
    static func read(_ path: String) throws -> Google_Protobuf_Struct {
        try ProtoJSONFile.read(path, as: Google_Protobuf_Struct.self, described: "a JSON object", failure: CommandFailure.input)
    }
}
