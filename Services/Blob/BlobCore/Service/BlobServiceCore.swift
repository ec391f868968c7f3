import Foundation
import GRPCCore
import Logging
import NIOCore

/// The BlobService operations, independent of the tvix/snix message types (each flavor's gRPC service
/// adapts its messages to these).
public struct BlobServiceCore: Sendable {
    /// Largest `BlobChunk.data` Read sends (upstream sends 4 KiB; clients accept any size).
    public static let readMessageBytes = 1 << 20

    public let store: any BlobStore
    public let maximumBlobSize: Int64
    /// Held by every Put so that the collector leaves its chunks alone, however slow it is.
    let leases: UploadLeases
    let logger: Logger

    public init(store: any BlobStore, leases: UploadLeases, maximumBlobSize: Int64, logger: Logger = Logger(label: "wharf.blob")) {
        self.store = store
        self.leases = leases
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
        guard let record = try await lookUp(digest) else { throw .notFound(digest) }
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
            next = index + 1 < record.chunks.count ? Task { [store, following = record.chunks[index + 1]] in
                try await store.readChunk(following.digest)
            } : nil
            guard var data = stored else { throw .dataLoss("chunk \(chunk.digest.hex) of blob \(digest.hex) is missing") }
            guard data.readableBytes == chunk.size else {
                throw .dataLoss("chunk \(chunk.digest.hex) of blob \(digest.hex) has \(data.readableBytes) bytes, expected \(chunk.size)")
            }
            while data.readableBytes > 0, let piece = data.readSlice(length: min(Self.readMessageBytes, data.readableBytes)) {
                do {
                    try await send(piece)
                } catch {
                    throw .storage(error)  // the client went away; the status is not seen by anyone
                }
            }
        }
    }

    /// Stores the blob arriving as `messages`; returns its digest once committed. A stream that fails or is
    /// cancelled commits nothing.
    func put<Messages: AsyncSequence>(_ messages: Messages, data: (Messages.Element) -> Data) async throws(BlobServiceError) -> BlobDigest {
        do {
            return try await leases.holding { () async throws(BlobServiceError) -> BlobDigest in try await leasedPut(messages, data: data) }
        } catch let error as BlobServiceError {
            throw error
        } catch {
            throw storageFailure(error, "taking an upload lease")
        }
    }

    private func leasedPut<Messages: AsyncSequence>(_ messages: Messages, data: (Messages.Element) -> Data) async throws(BlobServiceError) -> BlobDigest {
        var upload = BlobUpload(store: store, maximumSize: maximumBlobSize)
        // Small messages (tvix clients send ≤ 8 KiB) are gathered so the chunker and hashers see large appends.
        var pending = Data()
        pending.reserveCapacity(1 << 20)
        do {
            for try await message in messages {
                let bytes = data(message)
                if pending.isEmpty && bytes.count >= 1 << 16 {
                    try await upload.append(bytes)  // already large: no extra copy
                    continue
                }
                pending.append(bytes)
                if pending.count >= 1 << 20 {
                    try await upload.append(pending)
                    pending.removeAll(keepingCapacity: true)
                }
            }
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
