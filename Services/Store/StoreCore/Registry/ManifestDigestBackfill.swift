import Logging
import ServiceLifecycle

/// Fills the manifest digest of records stored before the registry existed (migration 4), in batches, once
/// at start; the registry finds such records by tag meanwhile, and by digest once filled.
struct ManifestDigestBackfill: Service {
    let records: RecordRepository
    let logger: Logger

    func run() async throws {
        var filled = 0
        do {
            while !Task.isCancelled {
                let batch = try await records.backfillManifestDigests(limit: 1000)
                filled += batch
                if batch == 0 { break }
            }
        } catch {
            logger.warning("manifest digest backfill stopped; it resumes at the next start", metadata: ["error": "\(error)"])
        }
        if filled > 0 { logger.info("filled manifest digests of older records", metadata: ["count": "\(filled)"]) }
        // A background service that returns ends the service group: wait for shutdown instead.
        try? await gracefulShutdown()
    }
}
