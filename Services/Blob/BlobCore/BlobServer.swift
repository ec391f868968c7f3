import BLAKE3
import Foundation
import Logging
import Metrics
import NIOCore
import WharfRuntime
import WharfTopology

/// The blob service's own settings.
public struct BlobSettings: Sendable {
    public enum StoreKind: String, Sendable { case postgres, filesystem }

    public var store: StoreKind
    public var directory: String
    public var maximumBlobSize: Int64
    public var garbageGrace: Duration
    public var garbageInterval: Duration
    /// The longest a Put may run, and how long it may wait for its client: how long one upload can hold back
    /// garbage collection.
    public var putMaximumDuration: Duration
    public var putIdleTimeout: Duration

    public init(reader: EnvironmentReader) {
        store =
            reader.parsed("WHARF_BLOB_STORE", default: "postgres") { text throws(ConfigurationProblem) in
                guard let kind = StoreKind(rawValue: text) else {
                    throw ConfigurationProblem("expected postgres or filesystem, got \"\(text)\"")
                }
                return kind
            } ?? .postgres
        directory = reader.string("WHARF_BLOB_DIR", default: ".wharf/blobs")
        maximumBlobSize = Int64(reader.int("WHARF_BLOB_MAX_BYTES", default: 64 << 30, range: 1...(1 << 50)))
        garbageGrace = reader.duration("WHARF_BLOB_GC_GRACE", default: .seconds(3600), minimum: .seconds(1))
        garbageInterval = reader.duration("WHARF_BLOB_GC_INTERVAL", default: .seconds(3600), minimum: .seconds(1))
        putMaximumDuration = reader.duration("WHARF_BLOB_PUT_MAX_DURATION", default: .seconds(6 * 3600), minimum: .seconds(1))
        putIdleTimeout = reader.duration("WHARF_BLOB_PUT_IDLE_TIMEOUT", default: .seconds(30), minimum: .milliseconds(100))
        // Read by BLAKE3Kernel.selected; checked here so that a kernel this CPU cannot run (or a typo) stops
        // the start with its name instead of being ignored.
        _ = reader.parsed("WHARF_BLAKE3_KERNEL", default: BLAKE3Kernel.selected.rawValue) { text throws(ConfigurationProblem) in
            guard let kernel = BLAKE3Kernel(rawValue: text) else {
                throw ConfigurationProblem("expected one of \(BLAKE3Kernel.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            guard BLAKE3Kernel.supportedByCPU.contains(kernel) else {
                throw ConfigurationProblem(
                    "this CPU cannot run the \(text) kernel (it can run \(BLAKE3Kernel.supportedByCPU.map(\.rawValue).joined(separator: ", ")))")
            }
            return kernel
        }
    }
}

/// Builds the blob service on a `WharfServiceHost`.
public enum BlobServer: WharfServiceProgram {
    public static let name = "blob"
    public static let defaults = RuntimeConfiguration.Defaults(SystemShape.blob)

    public static func settings(reader: EnvironmentReader) -> BlobSettings { BlobSettings(reader: reader) }
    public static let migrations = [PostgresBlobStore.migrations]
    static let garbageJob = "blob.collect-garbage"

    public static func makeStore(_ settings: BlobSettings, host: WharfServiceHost) throws -> any BlobStore {
        switch settings.store {
        case .postgres:
            return PostgresBlobStore(client: host.postgres, logger: host.logger)
        case .filesystem:
            return try FileSystemBlobStore(root: URL(fileURLWithPath: settings.directory))
        }
    }

    /// One collection: chunks no blob refers to, older than `grace`, and older than every upload in progress.
    public static func collectGarbage(store: any BlobStore, leases: any UploadLeaseStore, grace: Duration) async throws -> Int {
        try await store.collectGarbage(grace: grace, keepingSince: try await leases.oldestLiveStart())
    }

    public static func build(host: WharfServiceHost, settings: BlobSettings) async throws -> WharfServiceParts {
        let store = try makeStore(settings, host: host)
        let leases = PostgresUploadLeases(client: host.postgres, logger: host.logger)
        let core = BlobServiceCore(
            store: store, leases: leases, maximumBlobSize: settings.maximumBlobSize,
            putIdleTimeout: settings.putIdleTimeout, putMaximumDuration: settings.putMaximumDuration,
            logger: host.logger, metrics: host.metricsFactory)
        // Orphaned chunks (uploads that never committed) are collected by a recurring job. Runs are keyed by
        // their time slot, so replicas starting together schedule one run per slot between them.
        let jobs = host.jobs
        let logger = host.logger
        let interval = max(1, Double(settings.garbageInterval.components.seconds))
        @Sendable func schedule(slot: Int64) async throws {
            try await jobs.enqueue(
                kind: garbageJob, payload: [String: String](),
                runAt: Date(timeIntervalSince1970: Double(slot) * interval),
                uniqueKey: "\(garbageJob)@\(slot)")
        }
        try await schedule(slot: Int64(Date().timeIntervalSince1970 / interval))
        let failures = Counter(label: "wharf_blob_gc_failures_total", factory: host.metricsFactory)
        let collect: JobHandler = { _ in
            let removed: Int
            do {
                removed = try await collectGarbage(store: store, leases: leases, grace: settings.garbageGrace)
            } catch {
                // The next slot still runs: a collection that stopped is retried, never skipped for good.
                failures.increment()
                logger.error("blob garbage collection stopped", metadata: ["error": "\(error)"])
                try await schedule(slot: Int64(Date().timeIntervalSince1970 / interval) + 1)
                throw error
            }
            if removed > 0 { logger.info("collected orphaned blob chunks", metadata: ["removed": "\(removed)"]) }
            try await schedule(slot: Int64(Date().timeIntervalSince1970 / interval) + 1)
        }
        return WharfServiceParts(
            rpcServices: [TvixBlobService(core: core), SnixBlobService(core: core)],
            jobHandlers: [garbageJob: collect])
    }
}
