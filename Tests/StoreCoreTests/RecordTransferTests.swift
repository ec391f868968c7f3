import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RecordIdentity
import ServiceContracts
import StoreCore
import SwiftProtobuf
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

typealias TransferClient = Wharf_Store_V1_RecordTransfer.Client<HTTP2ClientTransport.Posix>

extension Wharf_Store_V1_RecordTransfer.Client where Transport == HTTP2ClientTransport.Posix {
    /// Sends each element of `messages` as one ImportRecords message; the outcomes of each, and the error
    /// that ended the stream.
    func importing(_ messages: [[Wharf_Store_V1_TransferredRecord]]) async throws -> (outcomes: [[Wharf_Store_V1_ImportOutcome]], error: RPCError?) {
        try await importRecords(
            request: StreamingClientRequest { writer in
                for message in messages { try await writer.write(.with { $0.records = message }) }
            }
        ) { response in
            var outcomes: [[Wharf_Store_V1_ImportOutcome]] = []
            do {
                for try await answer in response.messages { outcomes.append(answer.outcomes) }
                return (outcomes, nil)
            } catch let error as RPCError {
                return (outcomes, error)
            }
        }
    }

    /// One ExportRecords call: the answer messages as they came.
    func exportMessages(_ cids: [String], referrers: Bool = true) async throws -> [Wharf_Store_V1_ExportResponse] {
        try await exportRecords(
            .with {
                $0.cids = cids; $0.referrers = referrers
            }
        ) { response in
            try await response.messages.reduce(into: [Wharf_Store_V1_ExportResponse]()) { $0.append($1) }
        }
    }
}

@Suite("wharf.store.v1.RecordTransfer: records in bulk as canonical JSON with their referrers")
struct RecordTransferTests {
    static func transferred(_ vector: CIDVectors.Record) -> Wharf_Store_V1_TransferredRecord {
        .with {
            $0.cid = vector.cid
            $0.canonicalJson = Data(vector.canonical_json.utf8)
        }
    }

    @Test(
        "upstream's vector records import by their canonical JSON, pull back as Push would have stored them, and export in order with referrers; a missing CID is not found"
    )
    func importThenExport() async throws {
        let vectors = try CIDVectors.load().record_vectors
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let transfer = TransferClient(wrapping: client)
                var records = vectors.map(Self.transferred)
                records[0].signature = "MEUCIQ=="
                records[0].signaturePayload = "{\"critical\":{}}"
                records[0].publicKey = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
                // The same record twice in one message: stored once, inserted reported once.
                let (outcomes, error) = try await transfer.importing([records + [records[1]]])
                #expect(error == nil)
                let answer = try #require(outcomes.first)
                #expect(answer.map(\.cid) == vectors.map(\.cid) + [vectors[1].cid])
                #expect(answer.allSatisfy { $0.code == 0 }, "\(answer)")
                #expect(answer.map(\.inserted) == Array(repeating: true, count: vectors.count) + [false])

                // What Push stores for the record, and the referrers with it.
                let store = StoreClient(wrapping: client)
                for vector in vectors {
                    #expect(try await store.pullOne(vector.cid).data == (try vector.record.asStruct()))
                }
                let referrers = try await store.pullReferrer(
                    request: StreamingClientRequest { writer in
                        try await writer.write(
                            .with {
                                $0.recordRef.cid = vectors[0].cid; $0.pullSignature = true
                            })
                        try await writer.write(
                            .with {
                                $0.recordRef.cid = vectors[0].cid; $0.pullPublicKey = true
                            })
                    }
                ) { response in try await response.messages.reduce(into: [Agntcy_Dir_Store_V1_PullReferrerResponse]()) { $0.append($1) } }
                #expect(referrers.first?.signature.signature == "MEUCIQ==")
                #expect(referrers.first?.signature.annotations == ["payload": "{\"critical\":{}}"])
                #expect(referrers.last?.publicKey == records[0].publicKey)

                // Pushing it again changes nothing: the CID was stored by the import.
                let (pushedAgain, _) = try await store.push([try vector(vectors[2])])
                #expect(pushedAgain == [vectors[2].cid])

                let unknown = "baeareihdr6sbcz2w4fqhvy5nbtxkpqckhrzumlfsqbhqkpouvxiw7bf6qi"
                let exported = try await transfer.exportEach(
                    [vectors[2].cid, unknown, vectors[0].cid, vectors[2].cid], referrers: true, options: .defaults)
                #expect(exported.map(\.cid) == [vectors[2].cid, unknown, vectors[0].cid, vectors[2].cid])
                #expect(exported.map(\.found) == [true, false, true, true])
                #expect(exported[0].canonicalJson == Data(vectors[2].canonical_json.utf8))
                #expect(RecordCID.of(canonicalJSON: exported[2].canonicalJson) == vectors[0].cid)
                #expect(exported[2].signature == "MEUCIQ==" && exported[2].publicKey == records[0].publicKey)
                #expect(exported[0].signature.isEmpty && exported[0].publicKey.isEmpty)
                let withoutReferrers = try await transfer.exportEach([vectors[0].cid], referrers: false, options: .defaults)
                #expect(withoutReferrers.first?.found == true && withoutReferrers.first?.signature.isEmpty == true)
            }
        }
    }

    @Test(
        "an import is checked as Push checks a record: JSON that is not canonical, a CID it does not hash to, no JSON object, a missing name, a NUL in a referrer are refused one by one; the rest is stored"
    )
    func refusedImports() async throws {
        let vectors = try CIDVectors.load().record_vectors
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let transfer = TransferClient(wrapping: client)
                let good = Self.transferred(vectors[0])
                // The same record with a space: the JSON parses to the same record, but is not what the CID hashes.
                var spaced = Self.transferred(vectors[1])
                spaced.canonicalJson = Data(vectors[1].canonical_json.replacingOccurrences(of: ",", with: ", ").utf8)
                var wrongCID = Self.transferred(vectors[2])
                wrongCID.cid = vectors[3].cid
                var notJSON = Self.transferred(vectors[3])
                notJSON.canonicalJson = Data("[1,2".utf8)
                let nameless = #"{"schema_version":"0.7.0","version":"v1"}"#
                let noName = Wharf_Store_V1_TransferredRecord.with {
                    $0.cid = RecordCID.of(canonicalJSON: Array(nameless.utf8))
                    $0.canonicalJson = Data(nameless.utf8)
                }
                var nul = Self.transferred(vectors[4])
                nul.publicKey = "key\u{0}"
                let (outcomes, error) = try await transfer.importing([[spaced, wrongCID, good, notJSON, noName, nul]])
                #expect(error == nil)
                let answer = try #require(outcomes.first)
                #expect(answer.map(\.code) == [3, 3, 0, 3, 3, 3], "\(answer)")
                #expect(answer[0].message.contains("is not canonical"), "\(answer[0].message)")
                #expect(answer[1].message == "record content hashes to \(vectors[2].cid), not to \(vectors[3].cid)")
                #expect(answer[3].message.contains("not a JSON object"))
                #expect(answer[4].message.contains("name must be a non-empty string"), "\(answer[4].message)")
                #expect(answer[5].message.contains("NUL"))
                #expect(answer[2].inserted)

                let exported = try await transfer.exportEach(vectors.map(\.cid), referrers: false, options: .defaults)
                #expect(exported.filter(\.found).map(\.cid) == [vectors[0].cid])
            }
        }
    }

    @Test(
        "limits: over 1,000 CIDs per export or records per import message is INVALID_ARGUMENT; large answers are split into messages of about 1 MiB")
    func limits() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let transfer = TransferClient(wrapping: client)
                let tooMany = await #expect(throws: RPCError.self) {
                    _ = try await transfer.exportMessages(Array(repeating: "baeareiexample", count: 1_001))
                }
                #expect(tooMany?.code == .invalidArgument)
                #expect(tooMany?.message.contains("over the maximum of 1000") == true, "\(tooMany?.message ?? "")")

                let (_, importError) = try await transfer.importing([Array(repeating: Wharf_Store_V1_TransferredRecord(), count: 1_001)])
                #expect(importError?.code == .invalidArgument)

                // Four records of about 600 KB: each answer message holds one (two would pass 1 MiB).
                let store = StoreClient(wrapping: client)
                var large: [Agntcy_Dir_Core_V1_Record] = []
                for index in 0..<4 {
                    var record = try exampleRecord("large-\(index)")
                    record.data.fields["description"] = Google_Protobuf_Value(stringValue: String(repeating: "x", count: 600_000))
                    large.append(record)
                }
                let (cids, error) = try await store.push(large)
                #expect(error == nil && cids.count == 4)
                let messages = try await transfer.exportMessages(cids + ["baeareiexample"])
                #expect(messages.map(\.records.count) == [1, 1, 1, 2], "\(messages.map(\.records.count))")
                #expect(messages.flatMap(\.records).map(\.cid) == cids + ["baeareiexample"])
            }
        }
    }

    private func vector(_ vector: CIDVectors.Record) throws -> Agntcy_Dir_Core_V1_Record {
        .with { $0.data = (try? vector.record.asStruct()) ?? .init() }
    }
}
