import Foundation
import Logging
import PostgresNIO
import WharfRuntime

/// Every Put in progress holds a lease in PostgreSQL (table `blob.upload_leases`, shared by all replicas and by
/// both stores), renewed while the upload lives. The collector keeps every chunk written or touched since the
/// oldest live lease began, however long that upload takes; a lease whose holder died stops counting once it
/// has not been renewed for `timeToLive`.
public struct UploadLeases: Sendable {
    public static let timeToLive: Duration = .seconds(60)
    static let renewalInterval: Duration = .seconds(15)

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Runs `body` under a lease, renewed every 15 s until `body` returns or throws; then released.
    func holding<T>(_ body: () async throws -> T) async throws -> T {
        let id = UUID()
        try await client.query("INSERT INTO blob.upload_leases (id) VALUES (\(id))", logger: logger)
        let renewal = Task { [client, logger] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.renewalInterval)
                guard !Task.isCancelled else { return }
                do {
                    try await client.query("UPDATE blob.upload_leases SET renewed_at = now() WHERE id = \(id)", logger: logger)
                } catch {
                    logger.warning("renewing an upload lease failed", metadata: ["error": "\(error)"])
                }
            }
        }
        defer {
            renewal.cancel()
            let (client, logger) = (self.client, self.logger)
            Task { try? await client.query("DELETE FROM blob.upload_leases WHERE id = \(id)", logger: logger) }
        }
        return try await body()
    }

    /// When the oldest live upload began (nil when none is in progress); leases of dead holders are removed.
    func oldestLiveStart() async throws -> Date? {
        let seconds = Double(Self.timeToLive.components.seconds)
        try await client.query("DELETE FROM blob.upload_leases WHERE renewed_at < now() - \(seconds) * interval '1 second'", logger: logger)
        let rows = try await client.query("SELECT min(started_at) FROM blob.upload_leases", logger: logger)
        return try await rows.decode(Date?.self).first(where: { _ in true }) ?? nil
    }
}
