import Foundation
import Logging
import PostgresNIO
import Synchronization
import WharfRuntime

/// Every Put in progress holds a lease in PostgreSQL (table `blob.upload_leases`, shared by all replicas and by
/// both stores), renewed while the upload lives. The collector keeps every chunk written or touched since the
/// oldest live lease began, however long that upload takes; a lease whose holder died stops counting once it
/// has not been renewed for `timeToLive`.
public struct PostgresUploadLeases: UploadLeaseStore {
    public static let timeToLive: Duration = .seconds(60)
    static let renewalInterval: Duration = .seconds(15)

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A lease of one Put, renewed every 15 s until released (at the latest when it is deinitialised).
    public final class Lease: UploadLease {
        private let id: UUID
        private let client: PostgresClient
        private let logger: Logger
        private let renewal: Task<Void, Never>
        private let released = Mutex(false)

        fileprivate init(id: UUID, client: PostgresClient, logger: Logger) {
            self.id = id
            self.client = client
            self.logger = logger
            renewal = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: PostgresUploadLeases.renewalInterval)
                    guard !Task.isCancelled else { return }
                    do {
                        try await client.query("UPDATE blob.upload_leases SET renewed_at = now() WHERE id = \(id)", logger: logger)
                    } catch {
                        logger.warning("renewing an upload lease failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }

        /// Gives the lease back (once; later calls do nothing): the collector may take what it protected.
        public func release() {
            guard
                released.withLock({ released in
                    defer { released = true }; return !released
                })
            else { return }
            renewal.cancel()
            let (client, logger, id) = (self.client, self.logger, self.id)
            Task { try? await client.query("DELETE FROM blob.upload_leases WHERE id = \(id)", logger: logger) }
        }

        deinit { release() }
    }

    /// Takes a lease for a Put that starts now.
    public func take() async throws -> any UploadLease {
        let id = UUID()
        try await client.query("INSERT INTO blob.upload_leases (id) VALUES (\(id))", logger: logger)
        return Lease(id: id, client: client, logger: logger)
    }

    /// When the oldest live upload began (nil when none is in progress); leases of dead holders are removed.
    public func oldestLiveStart() async throws -> Date? {
        let seconds = Double(Self.timeToLive.components.seconds)
        try await client.query("DELETE FROM blob.upload_leases WHERE renewed_at < now() - \(seconds) * interval '1 second'", logger: logger)
        let rows = try await client.query("SELECT min(started_at) FROM blob.upload_leases", logger: logger)
        return try await rows.decode(Date?.self).first(where: { _ in true }) ?? nil
    }
}
