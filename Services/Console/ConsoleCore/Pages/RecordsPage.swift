import Foundation
import GRPCCore
import SwiftProtobuf
import WharfProto

/// The Records page: counts and latest pushes (the store's RecordCatalog) and a routing Search whose results
/// link to each record.
struct RecordsPage {
    let backend: ConsoleBackend
    /// The search box's text: `skill:…` and `locator:…` terms; a bare term is a skill.
    let query: String

    /// The routing queries `text` asks for (at most 16 terms of at most 256 bytes).
    static func queries(_ text: String) -> [Routing_V1_RecordQuery] {
        text.split(whereSeparator: \.isWhitespace).prefix(16).map { term in
            let parts = term.split(separator: ":", maxSplits: 1)
            let kind = parts.count == 2 ? parts[0].lowercased() : "skill"
            let value = String((parts.count == 2 ? parts[1] : term).prefix(256))
            return .with {
                $0.type = kind == "locator" ? .locator : .skill
                $0.value = value
            }
        }
    }

    func model() async -> PageModel {
        var model = PageModel(page: "records", title: "Records", context: [:], refresh: "/records.json")
        do {
            let summary = try await Wharf_Store_V1_RecordCatalog.Client(wrapping: backend.gateway).summarize(
                .with { $0.recent = 25 }, options: backend.options)
            model.context["records"] = String(summary.records)
            model.context["signatures"] = String(summary.referrers["signature"] ?? 0)
            model.context["publicKeys"] = String(summary.referrers["public_key"] ?? 0)
            model.context["bytes"] = ConsoleText.bytes(Int64(clamping: summary.bytes))
            model.context["recent"] = summary.recent.map { record -> [String: Any] in
                [
                    "cid": record.cid, "name": record.name.isEmpty ? "–" : record.name, "version": record.version,
                    "schema": record.schemaVersion, "pushed": ConsoleText.time(unixMilliseconds: record.pushedAtUnixMs),
                    "signed": record.signed ? "signed" : "–",
                ]
            }
            model.live.text["records"] = String(summary.records)
            model.live.text["signatures"] = String(summary.referrers["signature"] ?? 0)
        } catch {
            model.problems.append("The store's records cannot be counted: \(ConsoleText.reason(error))")
            model.context["recent"] = [[String: Any]]()
        }
        model.context["query"] = query
        let queries = Self.queries(query)
        if !queries.isEmpty {
            do {
                let results = try await Routing_V1_RoutingService.Client(wrapping: backend.gateway).search(
                    .with {
                        $0.queries = queries
                        $0.minMatchScore = 1
                        $0.limit = 100
                    }, options: backend.options
                ) { response in try await response.messages.reduce(into: [Routing_V1_SearchResponse]()) { $0.append($1) } }
                model.context["results"] = results.map { result -> [String: Any] in
                    [
                        "cid": result.recordCid, "score": result.matchScore, "peer": result.hasPeer ? String(result.peer.id.prefix(64)) : "this node",
                        "matched": result.matchQueries.map { "\($0.type == .locator ? "locator" : "skill"):\($0.value)" }.joined(separator: ", "),
                    ]
                }
                model.context["resultCount"] = results.count
                model.context["searched"] = true
            } catch {
                model.problems.append("The search failed: \(ConsoleText.reason(error))")
            }
        }
        return model
    }
}

/// One record: its JSON pretty-printed, its signature and public key when it has them.
struct RecordPage {
    let backend: ConsoleBackend
    let cid: String

    func model() async -> PageModel {
        var model = PageModel(page: "record", title: "Record", context: ["cid": cid], refresh: nil)
        guard !cid.isEmpty, cid.utf8.count <= 256 else {
            model.problems.append("No record named.")
            return model
        }
        let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: backend.gateway)
        do {
            let records = try await store.pull(
                request: StreamingClientRequest { writer in try await writer.write(.with { $0.cid = cid }) }, options: backend.options
            ) { response in try await response.messages.reduce(into: [Agntcy_Dir_Core_V1_Record]()) { $0.append($1) } }
            if let record = records.first {
                model.context["json"] = Self.pretty(try record.data.jsonString())
                model.context["name"] = record.data.fields["name"]?.stringValue ?? ""
            } else {
                model.problems.append("The store has no record \(cid.prefix(80)).")
            }
        } catch {
            model.problems.append("The record cannot be read: \(ConsoleText.reason(error))")
        }
        for kind in ["signature", "publicKey"] {
            let answers = try? await store.pullReferrer(
                request: StreamingClientRequest { writer in
                    try await writer.write(
                        .with {
                            $0.recordRef = .with { $0.cid = cid }
                            if kind == "signature" { $0.pullSignature = true } else { $0.pullPublicKey = true }
                        })
                }, options: backend.options
            ) { response in try await response.messages.reduce(into: [Agntcy_Dir_Store_V1_PullReferrerResponse]()) { $0.append($1) } }
            for answer in answers ?? [] {
                switch answer.response {
                // The store answers a record without one with an empty signature or key, as upstream does.
                case .signature(let signature) where !signature.signature.isEmpty:
                    model.context["signature"] = [
                        "algorithm": signature.algorithm.isEmpty ? "–" : signature.algorithm, "value": signature.signature,
                        "signedAt": signature.signedAt.isEmpty ? "–" : signature.signedAt, "payload": signature.annotations["payload"] ?? "",
                        "certificate": signature.certificate, "contentType": signature.contentType.isEmpty ? "–" : signature.contentType,
                    ]
                case .publicKey(let key) where !key.isEmpty:
                    model.context["publicKey"] = key
                case .signature, .publicKey:
                    continue
                case nil:
                    continue
                }
            }
        }
        return model
    }

    /// JSON with sorted keys and indentation, or the text as it came when it is not JSON.
    static func pretty(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return json }
        return String(decoding: data, as: UTF8.self)
    }
}
