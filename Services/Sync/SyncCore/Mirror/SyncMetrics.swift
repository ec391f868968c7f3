import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import WharfRuntime

/// Each sync's progress as Prometheus gauges on the metrics port (`wharf_sync_*{sync_id}`), refreshed from
/// PostgreSQL every `interval`, so that every replica reports every sync, whichever replica's worker mirrors it.
/// Syncs that are DELETED are dropped from the metrics.
struct SyncMetrics: Service {
    let repository: SyncRepository
    let factory: any MetricsFactory
    let interval: Duration
    let logger: Logger

    /// Syncs reported at most (the newest active ones; WHARF_SYNC_MAX_ACTIVE bounds them anyway).
    static let maximumSyncs = 1000

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await refresh()
                } catch {
                    logger.debug("sync metrics not refreshed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func refresh() async throws {
        for (row, progress) in try await repository.reported(limit: Self.maximumSyncs) {
            let dimensions = [("sync_id", row.id.uuidString.lowercased())]
            func gauge(_ name: String, _ value: Int64) {
                Gauge(label: "wharf_sync_\(name)", dimensions: dimensions, factory: factory).record(value)
            }
            gauge("records_discovered", progress.discovered)
            gauge("records_copied", progress.copied)
            gauge("records_already_present", progress.alreadyPresent)
            gauge("records_rejected", progress.rejected)
            gauge("bytes", progress.bytes)
            gauge("consecutive_failures", Int64(progress.consecutiveFailures))
            gauge("lag_seconds", progress.inStepAt.map { max(0, Int64(Date().timeIntervalSince($0))) } ?? -1)
            gauge("status", Int64(row.status.rawValue))
        }
    }
}
