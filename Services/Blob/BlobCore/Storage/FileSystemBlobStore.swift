import Foundation
import NIOCore
import NIOFoundationCompat
import NIOPosix

/// Blobs as files (the embedded option): `chunks/<hex[0..4]>/<hex>` holds chunk bytes, `blobs/<…>/<hex>`
/// a blob's chunk list. Every file is written to `tmp/`, fsynced and renamed into place (then the folder
/// is fsynced), so a crash leaves either the whole file or nothing visible. File I/O runs on NIO's
/// blocking-I/O thread pool, never on a cooperative or event-loop thread.
public struct FileSystemBlobStore: BlobStore {
    public let root: URL
    private let pool: NIOThreadPool

    public init(root: URL, pool: NIOThreadPool = .singleton) throws {
        self.root = root
        self.pool = pool
        for folder in ["chunks", "blobs", "tmp"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
    }

    /// The on-disk form of a blob's chunk list.
    private struct Index: Codable {
        var size: Int64
        var chunks: [[String]]  // [hex digest, size]
    }

    private func path(_ kind: String, _ digest: BlobDigest) -> String {
        let hex = digest.hex
        return root.appendingPathComponent(kind).appendingPathComponent(String(hex.prefix(4)))
            .appendingPathComponent(hex).path
    }

    public func putChunk(_ digest: BlobDigest, _ bytes: ByteBuffer) async throws {
        let target = path("chunks", digest)
        let temporary = root.appendingPathComponent("tmp").appendingPathComponent(UUID().uuidString).path
        try await pool.runIfActive {
            if FileManager.default.fileExists(atPath: target) {
                // Already stored: refresh its age so the collector does not take it from this upload.
                _ = utimes(target, nil)
                return
            }
            try bytes.withUnsafeReadableBytes { try Self.writeDurably(UnsafeRawBufferPointer($0), temporary: temporary, target: target) }
        }
    }

    public func commitBlob(_ digest: BlobDigest, size: Int64, chunks: [ChunkRef]) async throws {
        let target = path("blobs", digest)
        let temporary = root.appendingPathComponent("tmp").appendingPathComponent(UUID().uuidString).path
        let chunkPaths = chunks.map { path("chunks", $0.digest) }
        let index = Index(size: size, chunks: chunks.map { [$0.digest.hex, String($0.size)] })
        try await pool.runIfActive {
            if FileManager.default.fileExists(atPath: target) { return }
            for (chunk, chunkPath) in zip(chunks, chunkPaths) where !FileManager.default.fileExists(atPath: chunkPath) {
                throw BlobStoreError.missingChunk(chunk.digest)
            }
            let data = try JSONEncoder().encode(index)
            try data.withUnsafeBytes { try Self.writeDurably($0, temporary: temporary, target: target) }
        }
    }

    public func record(of digest: BlobDigest) async throws -> BlobRecord? {
        let blobPath = path("blobs", digest)
        let chunkPath = path("chunks", digest)
        return try await pool.runIfActive { () throws -> BlobRecord? in
            if let data = FileManager.default.contents(atPath: blobPath) {
                let index = try JSONDecoder().decode(Index.self, from: data)
                let chunks = try index.chunks.map { entry -> ChunkRef in
                    guard entry.count == 2, let bytes = Data(hex: entry[0]), let digest = BlobDigest(bytes),
                          let size = Int(entry[1])
                    else { throw BlobStoreError.io("malformed blob index \(blobPath)") }
                    return ChunkRef(digest: digest, size: size)
                }
                return BlobRecord(size: index.size, chunks: chunks)
            }
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: chunkPath),
                  let size = (attributes[.size] as? NSNumber)?.intValue
            else { return nil }
            return BlobRecord(size: Int64(size), chunks: [ChunkRef(digest: digest, size: size)])
        }
    }

    public func readChunk(_ digest: BlobDigest) async throws -> ByteBuffer? {
        let chunkPath = path("chunks", digest)
        return try await pool.runIfActive { () throws -> ByteBuffer? in
            let descriptor = open(chunkPath, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                if errno == ENOENT { return nil }
                throw BlobStoreError.io("open \(chunkPath): \(String(cString: strerror(errno)))")
            }
            defer { close(descriptor) }
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw BlobStoreError.io("stat \(chunkPath) failed") }
            let size = Int(status.st_size)
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { target -> Int in
                var done = 0
                while done < size {
                    let count = Glibc.read(descriptor, target.baseAddress! + done, size - done)
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { throw BlobStoreError.io("read \(chunkPath): short read") }
                    done += count
                }
                return done
            }
            guard read == size else { throw BlobStoreError.io("read \(chunkPath): short read") }
            return buffer
        }
    }

    public func collectGarbage(grace: Duration) async throws -> Int {
        let root = self.root
        return try await pool.runIfActive {
            let cutoff = Date().addingTimeInterval(-Double(grace.components.seconds))
            var referenced = Set<String>()
            for file in Self.files(under: root.appendingPathComponent("blobs")) {
                guard let data = FileManager.default.contents(atPath: file.path),
                      let index = try? JSONDecoder().decode(Index.self, from: data) else { continue }
                for entry in index.chunks { referenced.insert(entry[0]) }
                referenced.insert(file.lastPathComponent)  // a one-chunk blob is its own chunk
            }
            var removed = 0
            for file in Self.files(under: root.appendingPathComponent("chunks"))
            where !referenced.contains(file.lastPathComponent) && Self.modified(file) < cutoff {
                try? FileManager.default.removeItem(at: file)
                removed += 1
            }
            for file in Self.files(under: root.appendingPathComponent("tmp")) where Self.modified(file) < cutoff {
                try? FileManager.default.removeItem(at: file)
            }
            return removed
        }
    }

    private static func files(under folder: URL) -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        return enumerator.compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
    }

    private static func modified(_ file: URL) -> Date {
        (try? file.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantFuture
    }

    /// Writes `bytes` to `temporary`, fsyncs it, renames it to `target` and fsyncs the folder.
    private static func writeDurably(_ bytes: UnsafeRawBufferPointer, temporary: String, target: String) throws {
        let folder = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BlobStoreError.io("create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let count = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                close(descriptor)
                unlink(temporary)
                throw BlobStoreError.io("write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += count
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0 else {
            unlink(temporary)
            throw BlobStoreError.io("fsync \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, target) == 0 else {
            unlink(temporary)
            throw BlobStoreError.io("rename to \(target): \(String(cString: strerror(errno)))")
        }
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }
}

extension Data {
    init?(hex: String) {
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
