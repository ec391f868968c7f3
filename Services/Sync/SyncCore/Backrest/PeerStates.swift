import Foundation
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// Each authorized client's `v1sync.PeerState`, in PostgreSQL (so any replica answers for any peer) and
/// announced on Redis after every write (so every replica's subscribers see it at once).
public struct PeerStates: Sendable {
    let client: PostgresClient
    let events: EventBus
    let logger: Logger

    /// Writes `state` (keyed by its keyid), as written by `session` when one is named, and tells every replica.
    public func put(_ state: V1sync_PeerState, session: String? = nil) async throws {
        let bytes = ByteBuffer(bytes: try state.serializedBytes() as [UInt8])
        try await client.query(
            """
            INSERT INTO backrest.peer_states (keyid, instance_id, state, peer_state, session_id) VALUES
                (\(state.peerKeyid), \(state.peerInstanceID), \(state.state.rawValue), \(bytes), \(session))
            ON CONFLICT (keyid) DO UPDATE SET instance_id = excluded.instance_id, state = excluded.state,
                peer_state = excluded.peer_state, session_id = excluded.session_id, updated_at = now()
            """, logger: logger)
        await events.publishIgnoringFailure(BackrestPeerStateChanged(keyid: state.peerKeyid))
    }

    /// Changes part of a stored state (a heartbeat, a received config), keeping the rest; nil when the
    /// peer has none yet. With `session`, only while that session holds the state (a session that was displaced
    /// leaves the newer one's state alone).
    @discardableResult
    public func update(keyid: String, session: String? = nil, _ change: (inout V1sync_PeerState) -> Void) async throws -> V1sync_PeerState? {
        guard PostgresText.canStore(keyid) else { return nil }
        let rows = try await client.query(
            "SELECT peer_state, session_id FROM backrest.peer_states WHERE keyid = \(keyid)", logger: logger)
        var found: (ByteBuffer, String?)?
        for try await row in rows.decode((ByteBuffer, String?).self) { found = row }
        guard let (bytes, holder) = found else { return nil }
        if let session, holder != session { return nil }
        var state = try V1sync_PeerState(serializedBytes: Array(bytes.readableBytesView))
        change(&state)
        let updated = ByteBuffer(bytes: try state.serializedBytes() as [UInt8])
        // Written only if no other session took the state over since it was read.
        let written = try await client.query(
            """
            UPDATE backrest.peer_states SET instance_id = \(state.peerInstanceID), state = \(state.state.rawValue),
                peer_state = \(updated), updated_at = now()
            WHERE keyid = \(keyid) AND session_id IS NOT DISTINCT FROM \(holder) RETURNING 1
            """, logger: logger)
        guard try await written.decode(Int.self).first(where: { _ in true }) != nil else { return nil }
        await events.publishIgnoringFailure(BackrestPeerStateChanged(keyid: keyid))
        return state
    }

    /// The most states kept for keys that are not authorized clients (refused pairing attempts): enough for an
    /// operator to see why a client cannot pair, never a table a stranger can grow.
    static let strangerStatesKept = 100

    /// Records the state of a refused key that is no authorized client, keeping only the newest such states.
    public func putStranger(_ state: V1sync_PeerState) async throws {
        try await put(state)
        try await client.query(
            """
            DELETE FROM backrest.peer_states WHERE keyid NOT IN (SELECT keyid FROM backrest.clients)
                AND keyid NOT IN (SELECT keyid FROM backrest.peer_states WHERE keyid NOT IN (SELECT keyid FROM backrest.clients)
                                  ORDER BY updated_at DESC LIMIT \(Self.strangerStatesKept))
            """, logger: logger)
    }

    /// The states of keys that are not authorized clients (refused pairing attempts), newest first.
    public func strangers() async throws -> [V1sync_PeerState] {
        let rows = try await client.query(
            """
            SELECT peer_state FROM backrest.peer_states WHERE keyid NOT IN (SELECT keyid FROM backrest.clients)
            ORDER BY updated_at DESC LIMIT \(Self.strangerStatesKept)
            """, logger: logger)
        var states: [V1sync_PeerState] = []
        for try await bytes in rows.decode(ByteBuffer.self) { states.append(try V1sync_PeerState(serializedBytes: Array(bytes.readableBytesView))) }
        return states
    }

    public func find(keyid: String) async throws -> V1sync_PeerState? {
        guard PostgresText.canStore(keyid) else { return nil }
        let rows = try await client.query("SELECT peer_state FROM backrest.peer_states WHERE keyid = \(keyid)", logger: logger)
        for try await bytes in rows.decode(ByteBuffer.self) {
            return try V1sync_PeerState(serializedBytes: Array(bytes.readableBytesView))
        }
        return nil
    }

    /// The states of `keyids` that have one, in that order.
    public func states(of keyids: [String]) async throws -> [V1sync_PeerState] {
        let rows = try await client.query(
            "SELECT keyid, peer_state FROM backrest.peer_states WHERE keyid = ANY(\(keyids.filter { PostgresText.canStore($0) }))",
            logger: logger)
        var found: [String: V1sync_PeerState] = [:]
        for try await (keyid, bytes) in rows.decode((String, ByteBuffer).self) {
            found[keyid] = try V1sync_PeerState(serializedBytes: Array(bytes.readableBytesView))
        }
        return keyids.compactMap { found[$0] }
    }

    /// Every peer state change from now on, as the keyid whose state changed (Redis; hints only).
    public func changes() -> AsyncStream<String> {
        let events = events.events(of: BackrestPeerStateChanged.self)
        return AsyncStream(bufferingPolicy: .bufferingNewest(10_000)) { continuation in
            let task = Task {
                for await event in events { continuation.yield(event.keyid) }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
