import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// Tells the configured peers which records this node provides (`wharf.routing.v1.PeerAnnouncements`), as
/// jobs in the shared table so a peer that is down gets them once it is back: one job per publish or
/// unpublish, and a full announcement of every published record at start-up and on each republish. Peers
/// keep announcements until they are older than `WHARF_ROUTING_REMOTE_TTL`, so a node that stops announcing
/// disappears from their answers then.
public struct Announcer: Sendable {
    static let recordJob = "routing.announce"
    static let allJob = "routing.announce-all"
    static let pageSize = 1000

    struct Payload: Codable, Sendable {
        var cid: String
        var provided: Bool
    }

    let index: LabelIndex
    let peers: PeerNetwork
    let jobs: JobQueue
    let selfPeer: Routing_V1_Peer
    let logger: Logger

    var enabled: Bool { !peers.connections.isEmpty }

    /// Schedules telling the peers that this node now provides `cid` (true) or stopped (false).
    func enqueue(_ cid: String, provided: Bool) async {
        guard enabled else { return }
        do {
            try await jobs.enqueue(kind: Self.recordJob, payload: Payload(cid: cid, provided: provided))
        } catch {
            logger.warning(
                "announcement not scheduled; the next full announcement carries it",
                metadata: ["cid": "\(cid)", "error": "\(error)"])
        }
    }

    func enqueueAll(uniqueKey: String) async throws {
        guard enabled else { return }
        try await jobs.enqueue(kind: Self.allJob, payload: [String: String](), uniqueKey: uniqueKey)
    }

    /// Job handler: one record's announcement (its current state is read again, so a late job never
    /// re-announces a record unpublished since). Fails, to be retried, while any peer did not take it.
    var announceRecord: JobHandler {
        { job in
            let payload = try JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8))
            let labels = try await index.labels(of: [payload.cid])[payload.cid]
            let request = Wharf_Routing_V1_AnnounceRequest.with {
                $0.peer = selfPeer
                if let labels {
                    $0.provided = [
                        .with {
                            $0.recordCid = payload.cid; $0.labels = labels
                        }
                    ]
                } else {
                    $0.withdrawnCids = [payload.cid]
                }
            }
            let failed = await peers.announce(request)
            guard failed.isEmpty else { throw AnnouncementFailed(peers: failed) }
        }
    }

    /// Job handler: every published record, in pages, to every peer. A peer that fails is logged and gets
    /// the next full announcement (start-up or republish); it is not retried page by page.
    var announceAll: JobHandler {
        { _ in
            var after = ""
            var failedPeers = Set<String>()
            while true {
                let page = try await index.publishedPage(after: after, limit: Self.pageSize)
                guard let last = page.last else { break }
                let request = Wharf_Routing_V1_AnnounceRequest.with {
                    $0.peer = selfPeer
                    $0.provided = page.map { record in
                        .with {
                            $0.recordCid = record.cid; $0.labels = record.labels
                        }
                    }
                }
                failedPeers.formUnion(await peers.announce(request))
                after = last.cid
            }
            if !failedPeers.isEmpty {
                logger.warning("full announcement incomplete", metadata: ["peers": "\(failedPeers.sorted())"])
            }
        }
    }
}

struct AnnouncementFailed: Error, CustomStringConvertible {
    var peers: [String]
    var description: String { "peers did not take the announcement: \(peers.joined(separator: ", "))" }
}
