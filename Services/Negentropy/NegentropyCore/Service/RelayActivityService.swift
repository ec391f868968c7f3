import Foundation
import GRPCCore
import WharfProto

/// `wharf.negentropy.v1.RelayActivity`: this replica's recent reconciliations (administrative: it names
/// clients' connection ids).
struct RelayActivityService: Wharf_Negentropy_V1_RelayActivity.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [Wharf_Negentropy_V1_RelayActivity.Method.ListReconciliations.descriptor]

    let log: ReconciliationLog

    func listReconciliations(request: Wharf_Negentropy_V1_ListReconciliationsRequest, context: ServerContext) async throws
        -> Wharf_Negentropy_V1_ListReconciliationsResponse
    {
        let entries = log.recent(limit: request.limit == 0 ? nil : Int(clamping: request.limit))
        return .with { response in
            response.reconciliations = entries.map { entry in
                .with {
                    $0.transport = entry.origin == .relay ? "relay" : "grpc"
                    $0.subscriptionID = entry.subscriptionID
                    $0.connectionID = entry.connectionID
                    $0.startedAtUnixMs = Int64(entry.startedAt.timeIntervalSince1970 * 1000)
                    $0.endedAtUnixMs = Int64(entry.endedAt.timeIntervalSince1970 * 1000)
                    $0.rounds = UInt32(clamping: entry.rounds)
                    $0.setSize = UInt64(clamping: entry.setSize)
                    $0.outcome = entry.outcome.rawValue
                    $0.error = entry.error
                }
            }
        }
    }
}
