import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RecordIdentity
import StoreCore
import SwiftProtobuf
import Testing
import WharfEvents
import WharfProto
import WharfRuntime
import WharfTestSupport

extension InProcessService {
    /// The store as its executable runs it (its OCI registry off unless `environment` says where).
    static let store = InProcessService(StoreServer.self)
    static func store(environment: [String: String]) -> InProcessService { InProcessService(StoreServer.self, environment: environment) }
}

typealias StoreClient = Agntcy_Dir_Store_V1_StoreService.Client<HTTP2ClientTransport.Posix>

extension Agntcy_Dir_Store_V1_StoreService.Client where Transport == HTTP2ClientTransport.Posix {
    /// Sends `records` on one Push stream; returns the CIDs received (in order) and the error that ended it.
    func push(_ records: [Agntcy_Dir_Core_V1_Record]) async throws -> (cids: [String], error: RPCError?) {
        try await push(
            request: StreamingClientRequest { writer in
                for record in records { try await writer.write(record) }
            }
        ) { response in
            var cids: [String] = []
            do {
                for try await reference in response.messages { cids.append(reference.cid) }
                return (cids, nil)
            } catch let error as RPCError {
                return (cids, error)
            }
        }
    }

    func pullOne(_ cid: String) async throws -> Agntcy_Dir_Core_V1_Record {
        try await pull(request: StreamingClientRequest { try await $0.write(.with { $0.cid = cid }) }) { response in
            var records: [Agntcy_Dir_Core_V1_Record] = []
            for try await record in response.messages { records.append(record) }
            guard records.count == 1 else { throw RPCError(code: .internalError, message: "expected one record, got \(records.count)") }
            return records[0]
        }
    }

    func lookupOne(_ cid: String) async throws -> Agntcy_Dir_Core_V1_RecordMeta {
        try await lookup(request: StreamingClientRequest { try await $0.write(.with { $0.cid = cid }) }) { response in
            var metas: [Agntcy_Dir_Core_V1_RecordMeta] = []
            for try await meta in response.messages { metas.append(meta) }
            guard metas.count == 1 else { throw RPCError(code: .internalError, message: "expected one meta, got \(metas.count)") }
            return metas[0]
        }
    }

    func delete(_ cids: [String]) async throws {
        _ = try await delete(
            request: StreamingClientRequest { writer in
                for cid in cids { try await writer.write(.with { $0.cid = cid }) }
            })
    }
}

func statusCode(_ body: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}

/// A distinct valid OASF 0.7.0 record (the spec's example with another name).
func exampleRecord(_ name: String) throws -> Agntcy_Dir_Core_V1_Record {
    var (record, _) = try vectorRecord("section 10")
    record.data.fields["name"] = Google_Protobuf_Value(stringValue: name)
    return record
}

@Suite("Store service over gRPC")
struct StoreServiceTests {
    @Test("every vector record pushes to its CID; Pull returns the canonical data; Lookup the annotations")
    func vectorsEndToEnd() async throws {
        let vectors = try CIDVectors.load()
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                let records = try vectors.record_vectors.map { vector in
                    let data = try vector.record.asStruct()
                    return Agntcy_Dir_Core_V1_Record.with { $0.data = data }
                }
                let (cids, error) = try await store.push(records)
                #expect(error == nil)
                #expect(cids == vectors.record_vectors.map(\.cid))
                for vector in vectors.record_vectors {
                    let pulled = try await store.pullOne(vector.cid)
                    #expect(String(decoding: try CanonicalJSON.encode(pulled.data), as: UTF8.self) == vector.canonical_json)
                    let meta = try await store.lookupOne(vector.cid)
                    #expect(meta.cid == vector.cid)
                    let expected = try PreparedRecord(.with { $0.data = try vector.record.asStruct() })
                    #expect(meta.annotations == expected.annotations.lookupAnnotations)
                    #expect(meta.schemaVersion == expected.schemaVersion)
                    #expect(meta.createdAt == expected.createdAt)
                }
                let example = try await store.lookupOne("baeareigaabnvlvnhoaukymdzxm6ganv4yf6n23x3yzf7qwkrab3mofqcte")
                #expect(example.schemaVersion == "v0.7.0")
                #expect(example.annotations["skills-count"] == "1")
                // Pushing again is idempotent: same CIDs, nothing rewritten.
                #expect(try await store.push(records).cids == vectors.record_vectors.map(\.cid))
            }
        }
    }

    @Test("Delete then Pull and Lookup give NOT_FOUND; Delete is idempotent; empty and malformed CIDs")
    func deleteAndNotFound() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                let cid = try #require(try await store.push([exampleRecord("delete-me")]).cids.first)
                #expect(try await store.lookupOne(cid).cid == cid)
                try await store.delete([cid, cid, "bafy-not-a-record"])
                #expect(await statusCode { _ = try await store.pullOne(cid) } == .notFound)
                #expect(await statusCode { _ = try await store.lookupOne(cid) } == .notFound)
                do {
                    _ = try await store.pullOne("not a cid")
                    Issue.record("expected NOT_FOUND")
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                    #expect(error.message == "failed to pull record: record not found: not a cid")
                }
                do {
                    _ = try await store.lookupOne("")
                    Issue.record("expected INVALID_ARGUMENT")
                } catch let error as RPCError {
                    #expect(error.code == .invalidArgument)
                    #expect(error.message == "record cid is required")
                }
                #expect(await statusCode { try await store.delete([""]) } == .invalidArgument)
            }
        }
    }

    @Test("a stream of 1,000 mixed records answers in order")
    func thousandInOrder() async throws {
        let vectors = try CIDVectors.load()
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                var records: [Agntcy_Dir_Core_V1_Record] = []
                for index in 0..<1000 {
                    if index % 7 == 0 {
                        let vector = vectors.record_vectors[index % vectors.record_vectors.count]
                        let data = try vector.record.asStruct()
                        records.append(.with { $0.data = data })
                    } else {
                        var record = try exampleRecord("agent-\(index)")
                        record.data.fields["size"] = Google_Protobuf_Value(numberValue: Double(index) / 3)
                        records.append(record)
                    }
                }
                let expected = try records.map { try PreparedRecord($0).cid }
                let (cids, error) = try await store.push(records)
                #expect(error == nil)
                #expect(cids == expected)
                #expect(Set(cids).count == 1000 - 143 + vectors.record_vectors.count)
                // Lookups on one stream, answered in request order.
                let order = expected.shuffled()
                let metas = try await store.lookup(
                    request: StreamingClientRequest { writer in
                        for cid in order { try await writer.write(.with { $0.cid = cid }) }
                    }
                ) { response in
                    var cids: [String] = []
                    for try await meta in response.messages { cids.append(meta.cid) }
                    return cids
                }
                #expect(metas == order)
            }
        }
    }

    @Test("concurrent Push streams of overlapping records (batched into shared inserts) store each record once with its annotations")
    func concurrentOverlappingPushes() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            let host = services.host("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                // 6 streams of 120 records each; neighbouring streams share half their records.
                let records = try (0..<420).map { index in
                    var record = try exampleRecord("overlap-\(index)")
                    record.data.fields["annotations"] = Google_Protobuf_Value(
                        structValue: .init(fields: [
                            "order": Google_Protobuf_Value(stringValue: "\(index)"), "quote\"d": Google_Protobuf_Value(stringValue: "ü\\"),
                        ]))
                    return record
                }
                let expected = try records.map { try PreparedRecord($0) }
                let answers = try await withThrowingTaskGroup(of: (Int, [String], RPCError?).self) { group in
                    for stream in 0..<6 {
                        let part = Array(records[(stream * 60)..<(stream * 60 + 120)])
                        group.addTask {
                            let (cids, error) = try await store.push(part); return (stream, cids, error)
                        }
                    }
                    return try await group.reduce(into: [(Int, [String], RPCError?)]()) { $0.append($1) }
                }
                for (stream, cids, error) in answers {
                    #expect(error == nil)
                    #expect(cids == expected[(stream * 60)..<(stream * 60 + 120)].map(\.cid))
                }
                let postgres = try await TestPostgres.shared()
                let database = host.configuration.postgres.database
                #expect(try await postgres.count("store.records", database: database) == 420)
                #expect(try await postgres.count("store.changes", database: database) == 420)
                for index in [0, 59, 60, 200, 419] {
                    let meta = try await store.lookupOne(expected[index].cid)
                    #expect(meta.annotations == expected[index].annotations.lookupAnnotations)
                    #expect(meta.annotations.values.contains("\(index)"))
                }
            }
        }
    }

    @Test("an invalid record mid-stream ends it with INVALID_ARGUMENT after the earlier answers; later ones are not stored")
    func invalidMidStream() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                var records = try (0..<5).map { try exampleRecord("before-\($0)") }
                var invalid = try exampleRecord("invalid")
                invalid.data.fields["name"] = nil
                records.append(invalid)
                let after = try exampleRecord("after")
                records.append(after)
                let (cids, error) = try await store.push(records)
                #expect(cids == (try records.prefix(5).map { try PreparedRecord($0).cid }))
                #expect(error?.code == .invalidArgument)
                #expect(error?.message == "record validation failed: name must be a non-empty string")
                #expect(await statusCode { _ = try await store.lookupOne(try PreparedRecord(after).cid) } == .notFound)
                // A record without data, as upstream.
                let (_, noData) = try await store.push([Agntcy_Dir_Core_V1_Record()])
                #expect(noData?.code == .invalidArgument)
                #expect(noData?.message == "record has no data")
            }
        }
    }

    @Test("a record over 4 MiB gets RESOURCE_EXHAUSTED; annotations over 100 KB get INVALID_ARGUMENT; nothing is stored")
    func limits() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                let kept = try await store.push([exampleRecord("kept")]).cids
                var huge = try exampleRecord("huge")
                huge.data.fields["blob"] = Google_Protobuf_Value(stringValue: String(repeating: "a", count: 4 << 20))
                let (hugeCIDs, hugeError) = try await store.push([huge])
                #expect(hugeCIDs.isEmpty)
                #expect(hugeError?.code == .resourceExhausted)
                var annotated = try exampleRecord("annotated")
                annotated.data.fields["annotations"] = Google_Protobuf_Value(
                    structValue: .init(
                        fields: Dictionary(
                            uniqueKeysWithValues: (0..<200).map {
                                ("key-\($0)", Google_Protobuf_Value(stringValue: String(repeating: "v", count: 600)))
                            })))
                let (_, annotationError) = try await store.push([annotated])
                #expect(annotationError?.code == .invalidArgument)
                #expect(annotationError?.message.contains("annotations") == true)
                let hugeCID = RecordCID.of(canonicalJSON: try CanonicalJSON.encode(huge.data))
                #expect(await statusCode { _ = try await store.lookupOne(hugeCID) } == .notFound)
                #expect(try await store.lookupOne(kept[0]).cid == kept[0])  // the service is still up and intact
            }
        }
    }

    @Test("signature and public-key referrers round-trip; unknown records answer as upstream")
    func referrers() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                let cid = try #require(try await store.push([exampleRecord("signed")]).cids.first)
                let pushes: [Agntcy_Dir_Store_V1_PushReferrerRequest] = [
                    .with {
                        $0.recordRef.cid = cid;
                        $0.signature = .with {
                            $0.signature = "MEUCIQ=="; $0.annotations = ["payload": "{\"critical\":{}}"]
                        }
                    },
                    .with {
                        $0.recordRef.cid = cid; $0.publicKey = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
                    },
                    .with { $0.recordRef.cid = cid },  // neither option: skipped, no answer
                    .with {
                        $0.recordRef.cid = "baeareiunknown"; $0.publicKey = "key"
                    },
                    .with {
                        $0.recordRef.cid = cid; $0.publicKey = ""
                    },
                ]
                let answers = try await store.pushReferrer(
                    request: StreamingClientRequest { writer in
                        for request in pushes { try await writer.write(request) }
                    }
                ) { response in
                    var answers: [Agntcy_Dir_Store_V1_PushReferrerResponse] = []
                    for try await answer in response.messages { answers.append(answer) }
                    return answers
                }
                #expect(answers.map(\.success) == [true, true, false, false])
                #expect(answers[2].errorMessage == "record not found: baeareiunknown")
                #expect(answers[3].errorMessage == "public key is required")

                let pulls: [Agntcy_Dir_Store_V1_PullReferrerRequest] = [
                    .with {
                        $0.recordRef.cid = cid; $0.pullSignature = true
                    },
                    .with {
                        $0.recordRef.cid = cid; $0.pullPublicKey = true
                    },
                    .with {
                        $0.recordRef.cid = "baeareiunknown"; $0.pullSignature = true
                    },
                    .with {
                        $0.recordRef.cid = "baeareiunknown"; $0.pullPublicKey = true
                    },
                ]
                let pulled = try await store.pullReferrer(
                    request: StreamingClientRequest { writer in
                        for request in pulls { try await writer.write(request) }
                    }
                ) { response in
                    var answers: [Agntcy_Dir_Store_V1_PullReferrerResponse] = []
                    for try await answer in response.messages { answers.append(answer) }
                    return answers
                }
                #expect(pulled.count == 4)
                #expect(pulled[0].signature.signature == "MEUCIQ==")
                #expect(pulled[0].signature.annotations == ["payload": "{\"critical\":{}}"])
                #expect(pulled[1].publicKey.hasPrefix("-----BEGIN PUBLIC KEY-----"))
                #expect(pulled[2].signature == Agntcy_Dir_Sign_V1_Signature())
                #expect(pulled[3].publicKey == "")
                // Delete takes the referrers with the record.
                try await store.delete([cid])
                _ = try await store.push([exampleRecord("signed")])
                let afterDelete = try await store.pullReferrer(
                    request: StreamingClientRequest {
                        try await $0.write(
                            .with {
                                $0.recordRef.cid = cid; $0.pullPublicKey = true
                            })
                    }
                ) { response in
                    var keys: [String] = []
                    for try await answer in response.messages { keys.append(answer.publicKey) }
                    return keys
                }
                #expect(afterDelete == [""])
            }
        }
    }

    @Test("a subscriber receives record.pushed and record.deleted after the commits")
    func events() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            let host = services.host("store")
            var pushed = host.events.events(of: RecordPushed.self).makeAsyncIterator()
            var deleted = host.events.events(of: RecordDeleted.self).makeAsyncIterator()
            let prefix = host.configuration.redis.channelPrefix
            #expect(
                await eventually {
                    host.subscriber.isSubscribed(to: EventBus.channel(for: RecordDeleted.topic, prefix: prefix))
                        && host.subscriber.isSubscribed(to: EventBus.channel(for: RecordPushed.topic, prefix: prefix))
                })
            try await withTestClient(port: port) { client in
                let store = StoreClient(wrapping: client)
                let name = "events-\(UUID().uuidString)"
                let cid = try #require(try await store.push([exampleRecord(name)]).cids.first)
                // Other tests push concurrently on the same Redis: wait for ours.
                while let event = await pushed.next(), event.cid != cid {}
                try await store.delete([cid])
                var seen = false
                while let event = await deleted.next() {
                    if event.cid == cid { seen = true; break }
                }
                #expect(seen)
            }
        }
    }
}
