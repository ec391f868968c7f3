import GRPCCore
import Logging
import ServiceLifecycle
import WharfEvents
import WharfProto
import WharfRuntime

/// Keeps the published set a subset of the store: unpublishes at once on `record.deleted`, and, since events
/// are hints that can be missed (Redis down, this service down), reconciles from the store: when the Redis
/// subscription comes back, every `WHARF_ROUTING_RECONCILE_INTERVAL` (a job), and in the republish job, which
/// checks every published record against the store and refreshes the rest, as upstream's 36-hour task does.
public struct StoreReconciler: Service {
    let index: LabelIndex
    let records: StoreRecordSource
    let events: EventBus
    let announcer: Announcer
    let logger: Logger

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                let deletions = events.events(of: RecordDeleted.self)
                let resumptions = events.resumptions()
                group.addTask { await unpublishOnEvents(deletions) }
                group.addTask { await reconcileAtStart() }
                group.addTask {
                    for await _ in resumptions {
                        do {
                            let dropped = try await unpublishMissing()
                            logger.info(
                                "reconciled with the store after the Redis subscription came back",
                                metadata: ["unpublished": "\(dropped)"])
                        } catch {
                            logger.warning(
                                "reconciliation after Redis came back failed; the reconcile job will retry",
                                metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
        }
    }

    /// record.deleted events may have been missed while no replica ran: drop what the store lost since, as
    /// soon as the store answers (tried every 2 s until then; the reconcile job covers a store down for long).
    private func reconcileAtStart() async {
        for attempt in 1...30 {
            do {
                let dropped = try await unpublishMissing()
                if dropped > 0 { logger.info("unpublished records deleted from the store while routing was down", metadata: ["count": "\(dropped)"]) }
                return
            } catch {
                if Task.isCancelled { return }
                if attempt == 30 {
                    logger.warning("start-up reconciliation with the store failed; the reconcile job will retry", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    private func unpublishOnEvents(_ deletions: AsyncStream<RecordDeleted>) async {
        for await event in deletions {
            do {
                if try await index.unpublish(event.cid) {
                    await announcer.enqueue(event.cid, provided: false)
                    logger.info("unpublished a record deleted from the store", metadata: ["cid": "\(event.cid)"])
                }
            } catch {
                logger.warning(
                    "unpublish on record.deleted failed; the reconcile job will retry",
                    metadata: ["cid": "\(event.cid)", "error": "\(error)"])
            }
        }
    }

    /// Unpublishes what the store deleted without this service hearing of it, and tells the peers: the
    /// published set is compared with the store's through the store's reconciliation RPC (never its tables:
    /// the two services may not share a database). Returns how many were unpublished.
    public func unpublishMissing() async throws -> Int {
        let missing = try await records.cidsMissing(from: try await index.publishedCIDs())
        var dropped = 0
        for cid in missing where try await index.unpublish(cid) {
            await announcer.enqueue(cid, provided: false)
            dropped += 1
        }
        if dropped > 0 { logger.info("unpublished records the store no longer has", metadata: ["count": "\(dropped)"]) }
        return dropped
    }

    /// One republish run: returns how many published records were dropped because the store lost them.
    public func republish() async throws -> Int {
        try await checkEveryPublishedRecord(refreshing: true)
    }

    /// Asks the store about every published record: unpublishes those it lost, refreshes the others if asked.
    private func checkEveryPublishedRecord(refreshing: Bool) async throws -> Int {
        var dropped = 0
        for cid in try await index.publishedCIDs() {
            if try await records.exists(cid) {
                if refreshing { try await index.refresh(cid) }
            } else if try await index.unpublish(cid) {
                await announcer.enqueue(cid, provided: false)
                dropped += 1
            }
        }
        if dropped > 0 { logger.info("unpublished records the store no longer has", metadata: ["count": "\(dropped)"]) }
        return dropped
    }
}
