import BLAKE3
import CoreMetrics
import Foundation
import GRPCCore
import Logging
import NIOCore
import ServiceContracts
import WharfRuntime

/// The BlobService operations, independent of the tvix/snix message types (each flavor's gRPC service
/// adapts its messages to these).
public struct BlobServiceCore: Sendable {
    /// Largest `BlobChunk.data` Read sends (upstream sends 4 KiB; clients accept any size).
    public static let readMessageBytes = 1 << 20

    public let store: any BlobStore
    public let maximumBlobSize: Int64
    /// Held by every Put so that the collector leaves its chunks alone, however slow it is.
    let leases: any UploadLeaseStore
    /// A Put that sends nothing for `putIdleTimeout`, or runs longer than `putMaximumDuration`, is ended and
    /// its lease given back: one stalled upload cannot stop garbage collection for ever.
    let putIdleTimeout: Duration
    let putMaximumDuration: Duration
    let logger: Logger
    /// `wharf_blob_received_bytes_total` (Put) and `wharf_blob_sent_bytes_total` (Read): the blob throughput.
    private let received: Counter?
    private let sent: Counter?

    public init(
        store: any BlobStore, leases: any UploadLeaseStore, maximumBlobSize: Int64, putIdleTimeout: Duration = .seconds(30),
        putMaximumDuration: Duration = .seconds(6 * 3600), logger: Logger = Logger(label: "wharf.blob"),
        metrics: (any MetricsFactory)? = nil
    ) {
        received = metrics.map { Counter(label: "wharf_blob_received_bytes_total", factory: $0) }
        sent = metrics.map { Counter(label: "wharf_blob_sent_bytes_total", factory: $0) }
        self.store = store
        self.leases = leases
        self.putIdleTimeout = putIdleTimeout
        self.putMaximumDuration = putMaximumDuration
        self.maximumBlobSize = maximumBlobSize
        self.logger = logger
    }

    static func digest(_ bytes: Data) throws(BlobServiceError) -> BlobDigest {
        guard let digest = BlobDigest(bytes) else { throw .invalidDigestLength }
        return digest
    }

    /// The chunk list to report: blobs of two or more chunks list them, when asked.
    func stat(digest bytes: Data, sendChunks: Bool) async throws(BlobServiceError) -> [ChunkRef] {
        let digest = try Self.digest(bytes)
        guard let record = try await lookUp(digest) else { throw .notFound(digest) }
        return sendChunks && record.chunks.count >= 2 ? record.chunks : []
    }

    /// Streams the blob's bytes to `send` in pieces of at most `readMessageBytes`, one stored chunk in
    /// memory at a time; `send` waits for the client (flow control), so a slow reader slows the reads.
    func read(digest bytes: Data, send: (ByteBuffer) async throws -> Void) async throws(BlobServiceError) {
        let digest = try Self.digest(bytes)
        try await read(try record(digest: bytes), of: digest, send: send)
    }

    /// Response metadata of Read: the blob's size in bytes.
    public static let sizeMetadataKey = BlobReadMetadata.sizeKey

    /// The stored record of the blob, or NOT_FOUND.
    func record(digest bytes: Data) async throws(BlobServiceError) -> BlobRecord {
        let digest = try Self.digest(bytes)
        guard let record = try await lookUp(digest) else { throw .notFound(digest) }
        return record
    }

    func read(_ record: BlobRecord, of digest: BlobDigest, send: (ByteBuffer) async throws -> Void) async throws(BlobServiceError) {
        // The next chunk is read while the current one is sent (one chunk of read-ahead).
        var next: Task<ByteBuffer?, any Error>? = record.chunks.first.map { first in
            Task { [store] in try await store.readChunk(first.digest) }
        }
        defer { next?.cancel() }
        for (index, chunk) in record.chunks.enumerated() {
            let stored: ByteBuffer?
            do {
                stored = try await next?.value
            } catch {
                throw storageFailure(error, "reading chunk \(chunk.digest)")
            }
            next =
                index + 1 < record.chunks.count
                ? Task { [store, following = record.chunks[index + 1]] in
                    try await store.readChunk(following.digest)
                } : nil
            guard var data = stored else { throw .dataLoss("chunk \(chunk.digest.hex) of blob \(digest.hex) is missing") }
            guard data.readableBytes == chunk.size else {
                throw .dataLoss("chunk \(chunk.digest.hex) of blob \(digest.hex) has \(data.readableBytes) bytes, expected \(chunk.size)")
            }
            // Verified before a byte of it is sent: a chunk damaged on disk (or in the database) is never served.
            guard data.withUnsafeReadableBytes({ BlobDigest(hashing: $0) }) == chunk.digest else {
                throw .dataLoss("chunk \(chunk.digest.hex) of blob \(digest.hex) does not hash to its digest (damaged in storage)")
            }
            while data.readableBytes > 0, let piece = data.readSlice(length: min(Self.readMessageBytes, data.readableBytes)) {
                do {
                    try await send(piece)
                    sent?.increment(by: piece.readableBytes)
                } catch {
                    throw .storage(error)  // the client went away; the status is not seen by anyone
                }
            }
        }
    }

    /// Stores the blob arriving as `messages`; returns its digest once committed. A stream that fails or is
    /// cancelled commits nothing.
    func put<Messages: AsyncSequence & Sendable>(_ messages: Messages, data: @escaping @Sendable (Messages.Element) -> Data)
        async throws(BlobServiceError) -> BlobDigest
    {
        let lease: any UploadLease
        do {
            lease = try await leases.take()
        } catch {
            throw storageFailure(error, "taking an upload lease")
        }
        defer { lease.release() }
        do {
            // The lease is given back the moment a limit is reached, whether or not the stream unwinds at once.
            return try await IdleWatchdog.run(
                limit: putIdleTimeout, what: "a Put", maximumDuration: putMaximumDuration,
                whenLimitReached: { lease.release() }
            ) { [self] activity in
                try await leasedPut(messages, activity: activity, data: data)
            }
        } catch let error as BlobServiceError {
            throw error
        } catch {
            throw storageFailure(error, "storing an upload")
        }
    }

    private func leasedPut<Messages: AsyncSequence>(
        _ messages: Messages, activity: StreamActivity,
        data: (Messages.Element) -> Data
    ) async throws(BlobServiceError) -> BlobDigest {
        var upload = BlobUpload(store: store, maximumSize: maximumBlobSize)
        // Small messages (tvix clients send ≤ 8 KiB) are gathered so the chunker and hashers see large appends.
        var pending = Data()
        pending.reserveCapacity(1 << 20)
        do {
            for try await message in messages {
                activity.touch()
                let bytes = data(message)
                received?.increment(by: bytes.count)
                if pending.isEmpty && bytes.count >= 1 << 16 {
                    activity.beginWork()
                    defer { activity.endWork() }
                    try await upload.append(bytes)  // already large: no extra copy
                    continue
                }
                pending.append(bytes)
                if pending.count >= 1 << 20 {
                    activity.beginWork()
                    defer { activity.endWork() }
                    try await upload.append(pending)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            // The client is done: what is left is the server's own work.
            activity.beginWork()
            defer { activity.endWork() }
            try await upload.append(pending)
            return try await upload.finish()
        } catch BlobUploadError.tooLarge(let limit) {
            throw .tooLarge(limit: limit)
        } catch {
            throw storageFailure(error, "storing an upload")
        }
    }

    private func lookUp(_ digest: BlobDigest) async throws(BlobServiceError) -> BlobRecord? {
        do {
            return try await store.record(of: digest)
        } catch {
            throw storageFailure(error, "looking up \(digest)")
        }
    }

    private func storageFailure(_ error: any Error, _ what: String) -> BlobServiceError {
        if let known = error as? BlobServiceError { return known }
        if error is CancellationError { return .storage(error) }
        if let clientError = error as? RPCError {
            logger.debug("upload abandoned by the client; nothing was committed", metadata: ["error": "\(clientError)"])
            return .clientGone(clientError)
        }
        logger.error("blob storage failed while \(what)", metadata: ["error": "\(String(reflecting: error))"])
        return .storage(error)
    }
}
