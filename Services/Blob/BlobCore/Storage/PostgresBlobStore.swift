import BLAKE3
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import PostgresNIO
import WharfRuntime

/// Blobs in PostgreSQL (schema `blob`): chunks de-duplicated by digest, a blob row plus its ordered chunk
/// list written in one transaction.
public struct PostgresBlobStore: BlobStore {
    public static let migrations = MigrationSet(
        schema: "blob",
        migrations: [
            Migration(
                version: 1, name: "chunks and blobs",
                sql: [
                    "CREATE SCHEMA IF NOT EXISTS blob",
                    """
                    CREATE TABLE blob.chunks (
                        digest bytea PRIMARY KEY CHECK (length(digest) = 32),
                        size integer NOT NULL CHECK (size >= 0),
                        data bytea NOT NULL,
                        touched_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    // Chunk bytes are BLAKE3-addressed and mostly incompressible: store them out of line without
                    // pglz (compressing random data only costs CPU).
                    "ALTER TABLE blob.chunks ALTER COLUMN data SET STORAGE EXTERNAL",
                    """
                    CREATE TABLE blob.blobs (
                        digest bytea PRIMARY KEY CHECK (length(digest) = 32),
                        size bigint NOT NULL CHECK (size >= 0),
                        created_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    """
                    CREATE TABLE blob.blob_chunks (
                        blob_digest bytea NOT NULL REFERENCES blob.blobs (digest) ON DELETE CASCADE,
                        position integer NOT NULL,
                        chunk_digest bytea NOT NULL REFERENCES blob.chunks (digest),
                        size integer NOT NULL,
                        PRIMARY KEY (blob_digest, position)
                    )
                    """,
                    "CREATE INDEX blob_chunks_by_chunk ON blob.blob_chunks (chunk_digest)",
                ]),
            Migration(
                version: 2, name: "upload leases",
                sql: [
                    """
                    CREATE TABLE blob.upload_leases (
                        id uuid PRIMARY KEY,
                        started_at timestamptz NOT NULL DEFAULT now(),
                        renewed_at timestamptz NOT NULL DEFAULT now()
                    )
                    """
                ]),
        ])

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger = Logger(label: "wharf.blob.postgres")) {
        self.client = client
        self.logger = logger
    }

    /// Chunk inserts commit without waiting for the WAL flush (`synchronous_commit = off`): the blob's own
    /// commit is synchronous and flushes the WAL up to and including every earlier chunk insert, so when
    /// Put answers, every chunk is as durable as the blob row. A chunk lost in a crash before that commit
    /// belonged to an upload that was never acknowledged.
    public func putChunk(_ digest: BlobDigest, _ bytes: ByteBuffer) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SET LOCAL synchronous_commit TO OFF", logger: logger)
            try await connection.query(
                """
                INSERT INTO blob.chunks (digest, size, data) VALUES (\(digest.bytes), \(bytes.readableBytes), \(bytes))
                ON CONFLICT (digest) DO UPDATE SET touched_at = now()
                """, logger: logger)
        }
    }

    public func commitBlob(_ digest: BlobDigest, size: Int64, chunks: [ChunkRef]) async throws {
        try await client.withTransaction(logger: logger) { connection in
            let inserted = try await connection.query(
                "INSERT INTO blob.blobs (digest, size) VALUES (\(digest.bytes), \(size)) ON CONFLICT DO NOTHING RETURNING 1",
                logger: logger)
            guard try await inserted.decode(Int.self).first(where: { _ in true }) != nil else { return }
            // One statement for the whole list: positions, digests and sizes as arrays.
            try await connection.query(
                """
                INSERT INTO blob.blob_chunks (blob_digest, position, chunk_digest, size)
                SELECT \(digest.bytes), position - 1, chunk, size
                FROM unnest(\(chunks.map { ByteBuffer(data: $0.digest.bytes) })::bytea[], \(chunks.map(\.size))::integer[])
                    WITH ORDINALITY AS c(chunk, size, position)
                """, logger: logger)
        }
    }

    public func record(of digest: BlobDigest) async throws -> BlobRecord? {
        let blobRows = try await client.query(
            "SELECT size FROM blob.blobs WHERE digest = \(digest.bytes)", logger: logger)
        if let size = try await blobRows.decode(Int64.self).first(where: { _ in true }) {
            let chunkRows = try await client.query(
                "SELECT chunk_digest, size FROM blob.blob_chunks WHERE blob_digest = \(digest.bytes) ORDER BY position",
                logger: logger)
            var chunks: [ChunkRef] = []
            for try await (chunk, chunkSize) in chunkRows.decode((Data, Int).self) {
                guard let chunkDigest = BlobDigest(chunk) else { throw BlobStoreError.io("malformed chunk digest in blob \(digest)") }
                chunks.append(ChunkRef(digest: chunkDigest, size: chunkSize))
            }
            return BlobRecord(size: size, chunks: chunks)
        }
        let chunkRows = try await client.query("SELECT size FROM blob.chunks WHERE digest = \(digest.bytes)", logger: logger)
        guard let size = try await chunkRows.decode(Int.self).first(where: { _ in true }) else { return nil }
        return BlobRecord(size: Int64(size), chunks: [ChunkRef(digest: digest, size: size)])
    }

    public func readChunk(_ digest: BlobDigest) async throws -> ByteBuffer? {
        let rows = try await client.query("SELECT data FROM blob.chunks WHERE digest = \(digest.bytes)", logger: logger)
        return try await rows.decode(ByteBuffer.self).first(where: { _ in true })
    }

    public func collectGarbage(grace: Duration, keepingSince: Date?) async throws -> Int {
        let seconds = Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18
        // Both times are PostgreSQL's: `keepingSince` is a lease's started_at.
        let keep = keepingSince ?? .distantFuture
        let rows = try await client.query(
            """
            DELETE FROM blob.chunks c
            WHERE c.touched_at < now() - \(seconds) * interval '1 second'
              AND c.touched_at < \(keep)
              AND NOT EXISTS (SELECT 1 FROM blob.blob_chunks b WHERE b.chunk_digest = c.digest)
            RETURNING 1
            """, logger: logger)
        return try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
    }
}
