import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import WharfProto
import WharfRuntime

/// The backup hosts as Prometheus gauges, read from PostgreSQL every `interval` so that every replica reports
/// every client, whichever replica holds its session:
/// - `wharf_backrest_client_heartbeat_interval_seconds`: how often clients are expected to send a heartbeat;
/// - `wharf_backrest_peer_connected{instance_id,keyid}`: 1 while a session is established;
/// - `wharf_backrest_peer_last_heartbeat_timestamp_seconds{instance_id,keyid}`: its last heartbeat (Unix s);
/// - `wharf_backrest_backup_last_timestamp_seconds{instance_id,plan_id}`: start of the plan's latest backup;
/// - `wharf_backrest_backup_last_failed{instance_id,plan_id}`: 1 when that backup ended in an error;
/// - `wharf_backrest_backups{instance_id,status}`: backups stored, by status.
struct BackrestMetrics: Service {
    let clients: BackrestClients
    let peerStates: PeerStates
    let client: PostgresClient
    let settings: BackrestSettings
    let gauges: GaugeSnapshot
    let interval: Duration
    let logger: Logger

    /// Clients and plans reported at most.
    static let maximumSeries = 10_000

    func run() async throws {
        await repeatUntilShutdown(every: interval) {
            do {
                gauges.publish(try await reading())
            } catch {
                logger.debug("backrest metrics not refreshed", metadata: ["error": "\(error)"])
            }
        }
    }

    func reading() async throws -> [GaugeSnapshot.Value] {
        var values = [
            GaugeSnapshot.Value(
                "wharf_backrest_client_heartbeat_interval_seconds", [], Double(settings.clientHeartbeatInterval.components.seconds))
        ]
        let known = try await clients.all(limit: Self.maximumSeries)
        let states = Dictionary(
            try await peerStates.states(of: known.map(\.keyid)).map { ($0.peerKeyid, $0) }, uniquingKeysWith: { $1 })
        var instances: [String: String] = [:]
        for client in known {
            instances[client.keyid] = client.instanceID
            let labels = [("instance_id", client.instanceID), ("keyid", client.keyid)]
            let state = states[client.keyid]
            values.append(.init("wharf_backrest_peer_connected", labels, state?.state == .connected ? 1 : 0))
            if let heartbeat = state?.lastHeartbeatMillis, heartbeat > 0 {
                values.append(.init("wharf_backrest_peer_last_heartbeat_timestamp_seconds", labels, Double(heartbeat) / 1000))
            }
        }
        let latest = try await client.query(
            """
            SELECT DISTINCT ON (peer_keyid, plan_id) peer_keyid, plan_id, status, start_time_ms
            FROM backrest.operations WHERE kind = 'backup'
            ORDER BY peer_keyid, plan_id, start_time_ms DESC LIMIT \(Self.maximumSeries)
            """, logger: logger)
        for try await (keyid, plan, status, start) in latest.decode((String, String, Int32, Int64).self) {
            guard let instance = instances[keyid] else { continue }
            let labels = [("instance_id", instance), ("plan_id", plan)]
            values.append(.init("wharf_backrest_backup_last_timestamp_seconds", labels, Double(start) / 1000))
            values.append(.init("wharf_backrest_backup_last_failed", labels, status == Int32(V1_OperationStatus.statusError.rawValue) ? 1 : 0))
        }
        let counts = try await client.query(
            "SELECT peer_keyid, status, count(*) FROM backrest.operations WHERE kind = 'backup' GROUP BY 1, 2", logger: logger)
        for try await (keyid, status, count) in counts.decode((String, Int32, Int64).self) {
            guard let instance = instances[keyid] else { continue }
            values.append(.init("wharf_backrest_backups", [("instance_id", instance), ("status", Self.statusName(status))], Double(count)))
        }
        return values
    }

    /// "success", "error", ... as backrest's OperationStatus names them without "STATUS_".
    static func statusName(_ value: Int32) -> String {
        switch V1_OperationStatus(rawValue: Int(value)) {
        case .statusPending: "pending"
        case .statusInprogress: "inprogress"
        case .statusSuccess: "success"
        case .statusWarning: "warning"
        case .statusError: "error"
        case .statusSystemCancelled: "system_cancelled"
        case .statusUserCancelled: "user_cancelled"
        default: "unknown"
        }
    }
}
