import GRPCCore
import Logging
import SwiftProtobuf
import WharfProto
import WharfRuntime

/// `wharf.routing.v1.RecordPublishing` (Wharf's own): routing.v1 Publish for many CIDs per message, so a
/// mirror copying thousands of records costs one store Pull stream and one INSERT per batch instead of an
/// RPC, a Pull and a commit per record. Each CID gets the outcome Publish would have given it; the labels
/// are read from this node's store, never taken from the caller.
public struct RecordPublishingService: Wharf_Routing_V1_RecordPublishing.SimpleServiceProtocol {
    /// CIDs one request may carry.
    public static let maximumCIDsPerRequest = 1_000

    let index: LabelIndex
    let records: StoreRecordSource
    let announcer: Announcer
    let logger: Logger

    public func publishMany(
        request: RPCAsyncSequence<Wharf_Routing_V1_PublishManyRequest, any Error>,
        response: RPCWriter<Wharf_Routing_V1_PublishManyResponse>, context: ServerContext
    ) async throws {
        for try await batch in request {
            guard batch.recordCids.count <= Self.maximumCIDsPerRequest else {
                throw RPCError(
                    code: .invalidArgument,
                    message:
                        "a PublishMany request has \(batch.recordCids.count) CIDs; at most \(Self.maximumCIDsPerRequest) are allowed")
            }
            let outcomes = try await publish(batch.recordCids)
            try await response.write(.with { $0.outcomes = outcomes })
        }
    }

    private func publish(_ cids: [String]) async throws -> [Wharf_Routing_V1_PublishOutcome] {
        // What Publish would refuse before asking the store; a CID with a NUL cannot be stored, so the store
        // has no such record.
        var outcomes: [Wharf_Routing_V1_PublishOutcome?] = cids.map { cid in
            if cid.isEmpty { return Self.outcome(cid, RoutingError.cidRequired) }
            if !PostgresText.canStore(cid) { return Self.outcome(cid, RoutingError.recordNotFound(cid: cid)) }
            return nil
        }
        let asked = cids.indices.filter { outcomes[$0] == nil }
        let found: [Agntcy_Dir_Core_V1_Record?]
        do {
            found = try await records.records(asked.map { cids[$0] })
        } catch {
            logger.warning("store unavailable during publish", metadata: ["cids": "\(asked.count)", "error": "\(error)"])
            throw RoutingError.storeUnavailable.rpcError
        }
        var publishable: [(cid: String, labels: [String])] = []
        for (position, record) in zip(asked, found) {
            let cid = cids[position]
            guard let record else { outcomes[position] = Self.outcome(cid, RoutingError.recordNotFound(cid: cid)); continue }
            let labels = RecordLabels.of(record.data)
            if let problem = RoutingLimits.labelProblem(labels) {
                outcomes[position] = Self.outcome(cid, RoutingError.recordLabelsTooLarge(cid: cid, problem: problem))
            } else {
                publishable.append((cid, labels))
                outcomes[position] = .with { $0.recordCid = cid }
            }
        }
        let inserted = try await withLoggedFailure(
            "publish records", logger: logger, "routing index operation failed",
            as: { RoutingError.storage(operation: $0).rpcError }
        ) {
            try await index.publish(publishable)
        }
        for cid in publishable.map(\.cid) where inserted.contains(cid) { await announcer.enqueue(cid, provided: true) }
        return outcomes.map { $0 ?? .init() }
    }

    private static func outcome(_ cid: String, _ error: RoutingError) -> Wharf_Routing_V1_PublishOutcome {
        let status = error.rpcError
        return .with {
            $0.recordCid = cid
            $0.code = Int32(status.code.rawValue)
            $0.message = status.message
        }
    }
}
