import Foundation
import Logging
import WharfRuntime

/// Builds the routing service on a `WharfServiceHost`.
public enum RoutingServer {
    public static let defaults = RuntimeConfiguration.Defaults(grpcPort: 50053, metricsPort: 9103)
    public static let migrations = [LabelIndex.migrations]
    static let republishJob = "routing.republish"

    public static func parts(host: WharfServiceHost, settings: RoutingSettings) async throws -> WharfServiceParts {
        let index = LabelIndex(client: host.postgres, logger: host.logger)
        let records = try StoreRecordSource(address: settings.store)
        let peers = try PeerNetwork(peers: settings.peers, timeout: settings.peerTimeout, logger: host.logger)
        let reconciler = StoreReconciler(index: index, records: records, events: host.events, logger: host.logger)
        let service = RoutingService(index: index, records: records, peers: peers, settings: settings, logger: host.logger)

        // record.deleted events may have been missed while no replica ran: drop what the store lost since.
        if let dropped = try await index.dropRecordsMissingFromStore(), dropped > 0 {
            host.logger.info("unpublished records deleted from the store while routing was down", metadata: ["count": "\(dropped)"])
        }
        // Republishing (checking every record with the store over gRPC, as upstream) is a recurring job
        // keyed by its time slot, so replicas share one run per slot.
        let jobs = host.jobs
        let interval = max(1, Double(settings.republishInterval.components.seconds))
        @Sendable func schedule(slot: Int64) async throws {
            try await jobs.enqueue(kind: republishJob, payload: [String: String](),
                                   runAt: Date(timeIntervalSince1970: Double(slot) * interval),
                                   uniqueKey: "\(republishJob)@\(slot)")
        }
        try await schedule(slot: Int64(Date().timeIntervalSince1970 / interval) + 1)
        let republish: JobHandler = { _ in
            _ = try await reconciler.republish()
            try await schedule(slot: Int64(Date().timeIntervalSince1970 / interval) + 1)
        }
        return WharfServiceParts(
            rpcServices: [service], serviceNames: ["routing.v1.RoutingService"],
            backgroundServices: [records, peers, reconciler],
            jobHandlers: [republishJob: republish])
    }
}
