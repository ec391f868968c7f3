import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// `wharf.store.v1.RecordCatalog`: how many records and referrers the store holds and its latest pushes.
/// Open to anyone, as the records themselves are.
struct RecordCatalogService: Wharf_Store_V1_RecordCatalog.SimpleServiceProtocol {
    /// Latest pushes listed at most.
    static let maximumRecent = 100

    let queries: RecordCatalogQueries
    let logger: Logger

    func summarize(request: Wharf_Store_V1_SummarizeRecordsRequest, context: ServerContext) async throws -> Wharf_Store_V1_RecordSummary {
        guard request.recent <= Self.maximumRecent else {
            throw RPCError(code: .invalidArgument, message: "recent \(request.recent) is above \(Self.maximumRecent)")
        }
        let unavailable = { (operation: String) in
            RPCError(code: .unavailable, message: "\(operation): the store database is unavailable")
        }
        let (totals, recent) = try await withLoggedFailure(
            "summarize records", logger: logger, "record catalog query failed", as: unavailable
        ) {
            async let totals = queries.totals()
            async let recent = request.recent == 0 ? [] : queries.recent(limit: Int(request.recent))
            return try await (totals, recent)
        }
        return .with { summary in
            summary.records = UInt64(clamping: totals.records)
            summary.bytes = UInt64(clamping: totals.storedBytes)
            summary.referrers = totals.referrers.mapValues { UInt64(clamping: $0) }
            summary.recent = recent.map { record in
                .with {
                    $0.cid = record.cid
                    $0.name = record.name
                    $0.version = record.version
                    $0.schemaVersion = record.schemaVersion
                    $0.pushedAtUnixMs = Int64(record.pushedAt.timeIntervalSince1970 * 1000)
                    $0.signed = record.signed
                }
            }
        }
    }
}
