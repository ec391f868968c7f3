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

    /// Writes `state` (keyed by its keyid) and tells every replica.
    public func put(_ state: V1sync_PeerState) async throws {
        let bytes = ByteBuffer(bytes: try state.serializedBytes() as [UInt8])
        try await client.query(
            """
            INSERT INTO backrest.peer_states (keyid, instance_id, state, peer_state) VALUES
                (\(state.peerKeyid), \(state.peerInstanceID), \(state.state.rawValue), \(bytes))
            ON CONFLICT (keyid) DO UPDATE SET instance_id = excluded.instance_id, state = excluded.state,
                peer_state = excluded.peer_state, updated_at = now()
            """, logger: logger)
        await events.publishIgnoringFailure(BackrestPeerStateChanged(keyid: state.peerKeyid))
    }

    /// Changes part of a stored state (a heartbeat, a received config), keeping the rest; nil when the
    /// peer has none yet.
    @discardableResult
    public func update(keyid: String, _ change: (inout V1sync_PeerState) -> Void) async throws -> V1sync_PeerState? {
        guard var state = try await find(keyid: keyid) else { return nil }
        change(&state)
        try await put(state)
        return state
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
