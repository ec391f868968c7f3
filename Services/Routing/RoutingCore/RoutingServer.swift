import Foundation
import Logging
import WharfRuntime
import WharfTopology

/// Builds the routing service on a `WharfServiceHost`.
public enum RoutingServer: WharfServiceProgram {
    public static let name = "routing"
    public static let defaults = RuntimeConfiguration.Defaults(SystemShape.routing)

    public static func settings(reader: EnvironmentReader) -> RoutingSettings { RoutingSettings(reader: reader) }
    public static let migrations = [LabelIndex.migrations]
    static let republishJob = "routing.republish"
    static let expireJob = "routing.expire-remote"
    static let reconcileJob = "routing.reconcile"

    public static func build(host: WharfServiceHost, settings: RoutingSettings) async throws -> WharfServiceParts {
        let index = LabelIndex(client: host.postgres, logger: host.logger, residentIndex: settings.residentIndex)
        let records = try StoreRecordSource(address: settings.store, adminToken: host.configuration.adminToken)
        let peers = try PeerNetwork(peers: settings.peers, credentials: settings.credentials, timeout: settings.peerTimeout, logger: host.logger)
        let announcer = Announcer(index: index, peers: peers, jobs: host.jobs, selfPeer: settings.selfPeer, logger: host.logger)
        let reconciler = StoreReconciler(index: index, records: records, events: host.events, announcer: announcer, logger: host.logger)
        let service = RoutingService(
            index: index, records: records, peers: peers, announcer: announcer,
            settings: settings, logger: host.logger)
        let publishing = RecordPublishingService(index: index, records: records, announcer: announcer, logger: host.logger)
        let announcements = PeerAnnouncementsService(index: index, credentials: settings.credentials, logger: host.logger)

        // record.deleted events missed while no replica ran are reconciled by the reconciler as it starts.
        // Peers may have forgotten this node while it was down: announce everything (one run per minute
        // across replicas starting together).
        let startMinute = Int64(Date().timeIntervalSince1970 / 60)
        try await announcer.enqueueAll(uniqueKey: "\(Announcer.allJob)@start-\(startMinute)")

        // Recurring jobs keyed by their time slot, so replicas share one run per slot.
        let jobs = host.jobs
        @Sendable func schedule(_ kind: String, every interval: Duration) async throws {
            let seconds = max(1, Double(interval.components.seconds))
            let slot = Int64(Date().timeIntervalSince1970 / seconds) + 1
            try await jobs.enqueue(
                kind: kind, payload: [String: String](), runAt: Date(timeIntervalSince1970: Double(slot) * seconds),
                uniqueKey: "\(kind)@\(slot)")
        }
        try await schedule(republishJob, every: settings.republishInterval)
        try await schedule(expireJob, every: settings.expireInterval)
        try await schedule(reconcileJob, every: settings.reconcileInterval)
        // Republishing, as upstream every 36 h: check every published record with the store over gRPC, then
        // announce the whole set to the peers again.
        // Each recurring job books its next slot first, so that a run that fails for good does not end the chain.
        let republish: JobHandler = { job in
            try await schedule(republishJob, every: settings.republishInterval)
            _ = try await reconciler.republish()
            try await announcer.enqueueAll(uniqueKey: "\(Announcer.allJob)@republish-\(job.id)")
        }
        let logger = host.logger
        let expire: JobHandler = { _ in
            try await schedule(expireJob, every: settings.expireInterval)
            let forgotten = try await index.expireRemote(olderThan: settings.remoteTTL)
            if forgotten > 0 { logger.info("forgot expired peer announcements", metadata: ["count": "\(forgotten)"]) }
        }
        let reconcile: JobHandler = { _ in
            try await schedule(reconcileJob, every: settings.reconcileInterval)
            _ = try await reconciler.unpublishMissing()
        }
        return WharfServiceParts(
            rpcServices: [service, publishing, announcements],
            backgroundServices: [records, peers, reconciler]
                + (settings.residentIndex ? [ResidentIndexLoader(index: index, catchUpInterval: .seconds(5), logger: host.logger)] : []),
            jobHandlers: [
                republishJob: republish, expireJob: expire, reconcileJob: reconcile,
                Announcer.recordJob: announcer.announceRecord, Announcer.allJob: announcer.announceAll,
            ])
    }
}
