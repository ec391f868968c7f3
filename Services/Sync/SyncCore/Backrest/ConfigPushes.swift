import Foundation
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// Configs an operator pushed to a client, kept until a session of that client sends them (one per client:
/// a newer push replaces one not yet sent).
struct ConfigPushes: Sendable {
    let client: PostgresClient
    let events: EventBus
    let logger: Logger

    func queue(_ setConfig: V1sync_SyncStreamItem.SyncActionSetConfig, for keyid: String) async throws {
        let bytes = ByteBuffer(bytes: try setConfig.serializedBytes() as [UInt8])
        try await client.query(
            """
            INSERT INTO backrest.config_pushes (keyid, set_config) VALUES (\(keyid), \(bytes))
            ON CONFLICT (keyid) DO UPDATE SET set_config = excluded.set_config, requested_at = now()
            """, logger: logger)
        await events.publishIgnoringFailure(BackrestConfigPushed(keyid: keyid))
    }

    /// Takes the client's pending push (removing it), if any.
    func take(for keyid: String) async throws -> V1sync_SyncStreamItem.SyncActionSetConfig? {
        let rows = try await client.query("DELETE FROM backrest.config_pushes WHERE keyid = \(keyid) RETURNING set_config", logger: logger)
        for try await bytes in rows.decode(ByteBuffer.self) {
            return try V1sync_SyncStreamItem.SyncActionSetConfig(serializedBytes: Array(bytes.readableBytesView))
        }
        return nil
    }

    func isPending(for keyid: String) async throws -> Bool {
        let rows = try await client.query("SELECT 1 FROM backrest.config_pushes WHERE keyid = \(keyid)", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// Keyids whose pushes were queued from now on (Redis; hints only).
    func announcements() -> AsyncStream<BackrestConfigPushed> { events.events(of: BackrestConfigPushed.self) }
}
