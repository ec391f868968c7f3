import Logging
import PostgresNIO
import ServiceLifecycle
import WharfProto
import WharfRuntime

/// Fills `backrest.operations.kind` for rows stored before it existed, a batch at a time, then ends. Every
/// replica may run it: an update only fills rows whose kind is still NULL.
struct OperationKindBackfill: Service {
    let client: PostgresClient
    let logger: Logger
    static let batch = 1_000

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var filled = 0
            while !Task.isCancelled {
                do {
                    let count = try await fillBatch()
                    filled += count
                    if count < Self.batch { break }
                } catch {
                    logger.warning("operation kinds not filled; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(30))
                }
            }
            if filled > 0 { logger.info("operation kinds filled", metadata: ["count": "\(filled)"]) }
        }
    }

    private func fillBatch() async throws -> Int {
        let rows = try await client.query(
            "SELECT id, operation FROM backrest.operations WHERE kind IS NULL ORDER BY id LIMIT \(Self.batch)", logger: logger)
        var ids: [Int64] = []
        var kinds: [String] = []
        for try await (id, bytes) in rows.decode((Int64, ByteBuffer).self) {
            ids.append(id)
            // A row that does not decode is left unknown ("") rather than retried forever.
            kinds.append((try? V1_Operation(serializedBytes: Array(bytes.readableBytesView))).map(OperationKind.of) ?? "")
        }
        guard !ids.isEmpty else { return 0 }
        try await client.query(
            """
            UPDATE backrest.operations o SET kind = t.k FROM unnest(\(ids)::bigint[], \(kinds)::text[]) AS t(i, k)
            WHERE o.id = t.i AND o.kind IS NULL
            """, logger: logger)
        return ids.count
    }
}
