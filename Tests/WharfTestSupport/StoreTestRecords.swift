import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import WharfProto

/// A v0.7.0 record with the given skills and locator types (and a name making its CID unique).
public func labelledRecord(_ name: String, skills: [String], locators: [String], schemaVersion: String = "v0.7.0") -> Agntcy_Dir_Core_V1_Record {
    func text(_ value: String) -> Google_Protobuf_Value { Google_Protobuf_Value(stringValue: value) }
    func list(_ values: [Google_Protobuf_Value]) -> Google_Protobuf_Value { Google_Protobuf_Value(listValue: .init(values: values)) }
    func object(_ fields: [String: Google_Protobuf_Value]) -> Google_Protobuf_Value { Google_Protobuf_Value(structValue: .init(fields: fields)) }
    return .with {
        $0.data = Google_Protobuf_Struct(fields: [
            "name": text(name), "version": text("v1.0.0"), "schema_version": text(schemaVersion),
            "skills": list(skills.map { object(["name": text($0)]) }),
            "locators": list(locators.map { object(["type": text($0), "url": text("https://example.org/\(name)")]) }),
        ])
    }
}

extension GRPCClient where Transport == HTTP2ClientTransport.Posix {
    /// Pushes `records` on one Push stream; the CIDs acknowledged, in order.
    public func pushRecords(_ records: [Agntcy_Dir_Core_V1_Record], options: CallOptions = .defaults) async throws -> [String] {
        try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: self).push(
            request: StreamingClientRequest { writer in
                for record in records { try await writer.write(record) }
            }, options: options
        ) { response in try await response.messages.reduce(into: [String]()) { $0.append($1.cid) } }
    }

    public func deleteRecords(_ cids: [String]) async throws {
        _ = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: self).delete(
            request: StreamingClientRequest { writer in
                for cid in cids { try await writer.write(.with { $0.cid = cid }) }
            })
    }

    /// The CIDs of `cids` the store can Pull (one Pull stream; a missing one ends it, so each is asked alone
    /// after a failure).
    public func pullableCIDs(_ cids: [String]) async throws -> Set<String> {
        let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: self)
        func pull(_ batch: [String]) async throws -> Int {
            try await store.pull(
                request: StreamingClientRequest { writer in
                    for cid in batch { try await writer.write(.with { $0.cid = cid }) }
                }
            ) { response in try await response.messages.reduce(0) { count, _ in count + 1 } }
        }
        var found = Set<String>()
        for start in stride(from: 0, to: cids.count, by: 500) {
            let batch = Array(cids[start..<min(start + 500, cids.count)])
            if (try? await pull(batch)) == batch.count {
                found.formUnion(batch)
                continue
            }
            for cid in batch where (try? await pull([cid])) == 1 { found.insert(cid) }
        }
        return found
    }
}
