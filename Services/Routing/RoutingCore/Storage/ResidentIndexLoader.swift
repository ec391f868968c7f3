import Logging
import ServiceLifecycle
import WharfRuntime

/// Loads this replica's resident index at start (retrying while PostgreSQL is unavailable) and then catches
/// it up on an interval, so that the catch-up each search does itself stays a handful of rows.
struct ResidentIndexLoader: Service {
    let index: LabelIndex
    let catchUpInterval: Duration
    let logger: Logger

    func run() async throws {
        await repeatUntilShutdown(every: catchUpInterval) { [index, logger] in
            let loaded = index.resident?.isLoaded ?? true
            do {
                if loaded {
                    try await index.catchUpResident()
                } else {
                    let started = ContinuousClock.now
                    let count = try await index.loadResident() ?? 0
                    logger.info(
                        "resident key index loaded",
                        metadata: [
                            "records": "\(count)", "seconds": "\((ContinuousClock.now - started).components.seconds)",
                        ])
                }
            } catch {
                logger.warning(
                    "resident key index: \(loaded ? "catch-up" : "load") failed; searches use PostgreSQL meanwhile",
                    metadata: ["error": "\(error)"])
            }
        }
    }
}
