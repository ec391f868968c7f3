import Foundation
import GRPCCore
import Logging
import NIOCore
import ServiceContracts
import SwiftProtobuf
import WharfEvents
import WharfProto
import WharfRuntime

/// `wharf.store.v1.RecordTransfer`: records in bulk as their canonical JSON, with their referrers. As open as
/// StoreService's Pull and Push (upstream's are), and an import is checked exactly as a Push is.
struct RecordTransferService: Wharf_Store_V1_RecordTransfer.SimpleServiceProtocol {
    /// CIDs per ExportRecords request, and records per ImportRecords message.
    static let maximumRecordsPerMessage = 1_000
    /// Export answers are cut into messages of about this size.
    static let exportMessageBytes = 1024 * 1024

    let repository: RecordRepository
    let events: EventBus?
    let logger: Logger

    func exportRecords(
        request: Wharf_Store_V1_ExportRequest, response: RPCWriter<Wharf_Store_V1_ExportResponse>,
        context: ServerContext
    ) async throws {
        guard request.cids.count <= Self.maximumRecordsPerMessage else {
            throw RPCError(
                code: .invalidArgument,
                message: "ExportRecords asks for \(request.cids.count) records, over the maximum of \(Self.maximumRecordsPerMessage) per request")
        }
        let stored = try await storage("export records") { try await repository.records(Array(Set(request.cids)), referrers: request.referrers) }
        let records = request.cids.map { cid in
            Wharf_Store_V1_TransferredRecord.with { transferred in
                transferred.cid = cid
                guard let found = stored[cid] else { return }
                transferred.found = true
                transferred.canonicalJson = Data(buffer: found.canonicalJSON, byteTransferStrategy: .noCopy)
                if let signature = found.signature {
                    transferred.signature = signature.value
                    transferred.signaturePayload = signature.payload
                }
                if let key = found.publicKey { transferred.publicKey = key.value }
            }
        }
        for batch in Wharf_Store_V1_TransferredRecord.batches(records, maximumBytes: Self.exportMessageBytes) {
            try await response.write(.with { $0.records = batch })
        }
    }

    func importRecords(
        request: RPCAsyncSequence<Wharf_Store_V1_ImportRequest, any Error>,
        response: RPCWriter<Wharf_Store_V1_ImportResponse>, context: ServerContext
    ) async throws {
        for try await message in request {
            guard message.records.count <= Self.maximumRecordsPerMessage else {
                throw RPCError(
                    code: .invalidArgument,
                    message: "an ImportRecords message carries \(message.records.count) records, over the maximum of \(Self.maximumRecordsPerMessage)"
                )
            }
            let outcomes = try await importing(message.records)
            try await response.write(.with { $0.outcomes = outcomes })
        }
    }

    /// Checks each record, stores those that pass (each CID once) with their referrers, and gives every
    /// record its outcome in order.
    private func importing(_ records: [Wharf_Store_V1_TransferredRecord]) async throws -> [Wharf_Store_V1_ImportOutcome] {
        var outcomes: [Wharf_Store_V1_ImportOutcome] = []
        var accepted: [String: RecordRepository.ImportedRecord] = [:]
        var order: [String] = []
        for transferred in records {
            do {
                let imported = try Self.check(transferred)
                outcomes.append(.with { $0.cid = transferred.cid })
                if accepted.updateValue(imported, forKey: imported.record.cid) == nil { order.append(imported.record.cid) }
            } catch {
                outcomes.append(
                    .with {
                        $0.cid = transferred.cid
                        $0.code = Int32(error.code.rawValue)
                        $0.message = error.message
                    })
            }
        }
        let inserted = try await store(order.compactMap { accepted[$0] })
        await events?.publishIgnoringFailure(order.filter(inserted.contains).map { RecordPushed(cid: $0) })
        var reported: Set<String> = []
        for index in outcomes.indices where outcomes[index].code == 0 {
            // The first of duplicates inserted it; later ones found it stored.
            outcomes[index].inserted = inserted.contains(outcomes[index].cid) && reported.insert(outcomes[index].cid).inserted
        }
        return outcomes
    }

    /// Imports in one statement; if it fails (a record deleted meanwhile breaks its referrers' reference),
    /// one record at a time, so that only the record concerned fails.
    private func store(_ records: [RecordRepository.ImportedRecord]) async throws -> Set<String> {
        do {
            return try await repository.importRecords(records)
        } catch  where records.count > 1 {
            var inserted: Set<String> = []
            for record in records {
                inserted.formUnion(try await storage("import record") { try await repository.importRecords([record]) })
            }
            return inserted
        } catch {
            return try await storage("import records") { throw error }
        }
    }

    /// A transferred record as the store would keep it, or the status Push would give it.
    static func check(_ transferred: Wharf_Store_V1_TransferredRecord) throws(RPCError) -> RecordRepository.ImportedRecord {
        let data: Google_Protobuf_Struct
        do {
            data = try Google_Protobuf_Struct(jsonUTF8Data: transferred.canonicalJson)
        } catch {
            throw RPCError(code: .invalidArgument, message: "record \(transferred.cid): canonical_json is not a JSON object")
        }
        let prepared: PreparedRecord
        do {
            prepared = try PreparedRecord(.with { $0.data = data })
        } catch {
            throw error.rpcError
        }
        guard prepared.canonicalJSON.elementsEqual(transferred.canonicalJson) else {
            throw RPCError(
                code: .invalidArgument,
                message: "record \(transferred.cid): canonical_json is not canonical (Push would store other bytes for it)")
        }
        guard prepared.cid == transferred.cid else {
            throw RPCError(code: .invalidArgument, message: "record content hashes to \(prepared.cid), not to \(transferred.cid)")
        }
        let signature =
            transferred.signature.isEmpty
            ? nil : RecordRepository.Referrer(value: transferred.signature, payload: transferred.signaturePayload)
        let publicKey = transferred.publicKey.isEmpty ? nil : RecordRepository.Referrer(value: transferred.publicKey, payload: "")
        guard PostgresText.canStoreAll([transferred.signature, transferred.signaturePayload, transferred.publicKey]) else {
            throw RPCError(
                code: .invalidArgument, message: "record \(transferred.cid): a referrer contains a NUL character (U+0000), which cannot be stored")
        }
        return RecordRepository.ImportedRecord(record: prepared, signature: signature, publicKey: publicKey)
    }

    /// Runs a repository call; an unexpected failure is logged with context and becomes INTERNAL.
    private func storage<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(operation, logger: logger, "store operation failed", as: { StoreError.storage(operation: $0).rpcError }, body)
    }
}
