import BLAKE3
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOPosix
import WharfEncoding
import WharfRuntime

/// Blobs as files (the embedded option): `chunks/<hex[0..2]>/<hex>` holds chunk bytes, `blobs/<…>/<hex>`
/// a blob's chunk list. 256 folders per kind (as git does): a 1 GiB blob has ~3,500 chunks, and a deeper
/// prefix made almost every chunk create a folder as well as a file. Every file is written beside its
/// target under a temporary name and renamed into place, so a crash leaves either the whole file or
/// nothing visible. Durability is paid once per blob, not per chunk: `commitBlob`
/// flushes the filesystem (`syncfs`, covering every chunk file and folder written so far) before it writes
/// the index with fsync + rename + folder fsync, and only then does Put answer. File I/O runs on NIO's
/// blocking-I/O thread pool, never on a cooperative or event-loop thread.
public struct FileSystemBlobStore: BlobStore {
    public let root: URL
    private let rootPath: String
    private let pool: NIOThreadPool

    public init(root: URL, pool: NIOThreadPool = .singleton) throws {
        self.root = root
        rootPath = root.standardizedFileURL.path
        self.pool = pool
        for folder in ["chunks", "blobs"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
    }

    /// The on-disk form of a blob's chunk list.
    /// Partial files are named `<target>.tmp-<uuid>` until renamed into place.
    static let temporaryMarker = ".tmp-"

    private struct Index: Codable {
        var size: Int64
        var chunks: [[String]]  // [hex digest, size]
    }

    private func path(_ kind: String, _ digest: BlobDigest) -> String {
        let hex = digest.hex
        return rootPath + "/" + kind + "/" + hex.prefix(2) + "/" + hex
    }

    public func putChunk(_ digest: BlobDigest, _ bytes: ByteBuffer) async throws {
        let target = path("chunks", digest)
        // Beside its target: concurrent writers do not queue on one folder's lock, and rename stays local.
        let temporary = target + Self.temporaryMarker + UUID().uuidString
        try await pool.runIfActive {
            if FileManager.default.fileExists(atPath: target) {
                // Already stored: refresh its age so the collector does not take it from this upload.
                _ = utimes(target, nil)
                return
            }
            try bytes.withUnsafeReadableBytes {
                try Self.write(UnsafeRawBufferPointer($0), temporary: temporary, target: target, durably: false)
            }
        }
    }

    public func commitBlob(_ digest: BlobDigest, size: Int64, chunks: [ChunkRef]) async throws {
        let target = path("blobs", digest)
        let temporary = target + Self.temporaryMarker + UUID().uuidString
        let chunkPaths = chunks.map { path("chunks", $0.digest) }
        let root = self.root
        let index = Index(size: size, chunks: chunks.map { [$0.digest.hex, String($0.size)] })
        try await pool.runIfActive {
            if FileManager.default.fileExists(atPath: target) { return }
            for (chunk, chunkPath) in zip(chunks, chunkPaths) where !FileManager.default.fileExists(atPath: chunkPath) {
                throw BlobStoreError.missingChunk(chunk.digest)
            }
            // Every chunk of this blob is on disk before the index that makes it visible.
            try Self.syncFileSystem(at: root.path)
            let data = try JSONEncoder().encode(index)
            try data.withUnsafeBytes { try Self.write($0, temporary: temporary, target: target, durably: true) }
        }
    }

    public func record(of digest: BlobDigest) async throws -> BlobRecord? {
        let blobPath = path("blobs", digest)
        let chunkPath = path("chunks", digest)
        return try await pool.runIfActive { () throws -> BlobRecord? in
            if let data = FileManager.default.contents(atPath: blobPath) {
                let index = try JSONDecoder().decode(Index.self, from: data)
                let chunks = try index.chunks.map { entry -> ChunkRef in
                    guard entry.count == 2, let bytes = Data(hexString: entry[0]), let digest = BlobDigest(bytes),
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
                guard let base = target.baseAddress else { return 0 }
                var done = 0
                while done < size {
                    let count = Glibc.read(descriptor, base + done, size - done)
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

    public func collectGarbage(grace: Duration, keepingSince: Date?) async throws -> Int {
        let root = self.root
        return try await pool.runIfActive {
            // `keepingSince` comes from PostgreSQL's clock, file times from this host's: a minute of margin.
            let cutoff = min(
                Date().addingTimeInterval(-Double(grace.components.seconds)),
                keepingSince?.addingTimeInterval(-60) ?? .distantFuture)
            var referenced = Set<String>()
            // Partial files of writers that crashed before their rename.
            for folder in ["chunks", "blobs"] {
                for file in Self.files(under: root.appendingPathComponent(folder))
                where file.lastPathComponent.contains(Self.temporaryMarker) && Self.modified(file) < cutoff {
                    try? FileManager.default.removeItem(at: file)
                }
            }
            for file in Self.files(under: root.appendingPathComponent("blobs"))
            where !file.lastPathComponent.contains(Self.temporaryMarker) {
                // An index that cannot be read may still refer to live chunks: nothing is deleted then.
                guard let data = FileManager.default.contents(atPath: file.path),
                    let index = try? JSONDecoder().decode(Index.self, from: data)
                else {
                    throw BlobStoreError.io("blob index \(file.path) cannot be read: garbage collection stopped, nothing deleted")
                }
                for entry in index.chunks { referenced.insert(entry[0]) }
                referenced.insert(file.lastPathComponent)  // a one-chunk blob is its own chunk
            }
            var removed = 0
            for file in Self.files(under: root.appendingPathComponent("chunks"))
            where !referenced.contains(file.lastPathComponent) && !file.lastPathComponent.contains(Self.temporaryMarker)
                && Self.modified(file) < cutoff
            {
                try? FileManager.default.removeItem(at: file)
                removed += 1
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

    /// Flushes everything written to the filesystem holding `path` (one call instead of an fsync per file).
    private static func syncFileSystem(at folder: String) throws {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw BlobStoreError.io("open \(folder): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        if let syncfs = Self.syncfs {
            guard syncfs(descriptor) == 0 else { throw BlobStoreError.io("syncfs \(folder): \(String(cString: strerror(errno)))") }
        } else {
            sync()  // flushes every filesystem: slower, same guarantee
        }
    }

    /// glibc's `syncfs`, which Swift's Glibc module does not import (the header hides it behind _GNU_SOURCE).
    private static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()

    /// Writes `bytes` to `temporary` and renames it to `target`; `durably` adds fsync of the file before the
    /// rename and of the folder after it.
    private static func write(_ bytes: UnsafeRawBufferPointer, temporary: String, target: String, durably: Bool) throws {
        let folder = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BlobStoreError.io("create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count, let base = bytes.baseAddress {
            let count = Glibc.write(descriptor, base + written, bytes.count - written)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                close(descriptor)
                unlink(temporary)
                throw BlobStoreError.io("write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += count
        }
        guard !durably || fsync(descriptor) == 0, close(descriptor) == 0 else {
            unlink(temporary)
            throw BlobStoreError.io("fsync \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, target) == 0 else {
            unlink(temporary)
            throw BlobStoreError.io("rename to \(target): \(String(cString: strerror(errno)))")
        }
        let folderDescriptor = durably ? open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }
}
