import GRPCCore
import Logging
import ServiceLifecycle
import StoreCore
import WharfProto
import WharfRuntime

/// Keeps the published set a subset of the store: unpublishes at once on `record.deleted`, and (since events
/// are hints that can be missed) the republish job checks every published record against the store, drops
/// those the store no longer has and refreshes the rest, as upstream's 36-hour republish task does.
public struct StoreReconciler: Service {
    let index: LabelIndex
    let records: StoreRecordSource
    let events: EventBus
    let announcer: Announcer
    let logger: Logger

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await event in events.events(of: RecordDeleted.self) {
                do {
                    if try await index.unpublish(event.cid) {
                        await announcer.enqueue(event.cid, provided: false)
                        logger.info("unpublished a record deleted from the store", metadata: ["cid": "\(event.cid)"])
                    }
                } catch {
                    logger.warning("unpublish on record.deleted failed; the republish job will retry",
                                   metadata: ["cid": "\(event.cid)", "error": "\(error)"])
                }
            }
        }
    }

    /// One republish run: returns how many published records were dropped because the store lost them.
    public func republish() async throws -> Int {
        var dropped = 0
        for cid in try await index.publishedCIDs() {
            if try await records.exists(cid) {
                try await index.refresh(cid)
            } else if try await index.unpublish(cid) {
                await announcer.enqueue(cid, provided: false)
                dropped += 1
            }
        }
        if dropped > 0 { logger.info("unpublished records the store no longer has", metadata: ["count": "\(dropped)"]) }
        return dropped
    }
}
