import BlobCore
import Foundation
import Synchronization

/// A file read in messages (or standard input, `-`), with its size when it has one (for the ETA).
final class InputFile: Sendable {
    let path: String
    let size: Int64?
    private let handle: FileHandle

    init(path: String) throws {
        self.path = path
        if path == "-" {
            handle = .standardInput
            size = nil
            return
        }
        guard let opened = FileHandle(forReadingAtPath: path) else {
            throw CommandFailure.input("\(path): cannot be opened for reading")
        }
        handle = opened
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        size = (attributes?[.size] as? NSNumber)?.int64Value
    }

    /// Up to `count` bytes; nil at the end.
    func read(upTo count: Int) throws -> Data? {
        do {
            guard let data = try handle.read(upToCount: count), !data.isEmpty else { return nil }
            return data
        } catch {
            throw CommandFailure.input("\(path): read failed (\(error.localizedDescription))")
        }
    }

    func close() {
        if path != "-" { try? handle.close() }
    }
}

/// Where `blob get` writes: a temporary file beside the destination, renamed onto it only once the bytes
/// hash to the digest asked for (a failed or corrupt read leaves nothing at the path); or standard output.
final class VerifiedOutput: Sendable {
    let path: String
    private let partial: String?
    private let handle: FileHandle
    private let hasher = Mutex(BLAKE3Hasher())

    init(path: String) throws {
        self.path = path
        if path == "-" {
            partial = nil
            handle = .standardOutput
            return
        }
        let partial = "\(path).partial-\(getpid())"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let opened = FileHandle(forWritingAtPath: partial) else {
            throw CommandFailure.input("\(path): cannot be written (creating \(partial) failed)")
        }
        self.partial = partial
        handle = opened
    }

    func write(_ data: Data) throws {
        hasher.withLock { $0.update(data) }
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw CommandFailure.input("\(path): write failed (\(error.localizedDescription))")
        }
    }

    var digest: BlobDigest? { hasher.withLock { BlobDigest(Data($0.finalize())) } }

    func commit() throws {
        guard let partial else { return }
        do {
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: partial, toPath: path)
        } catch {
            throw CommandFailure.input("\(path): could not be put in place (\(error.localizedDescription))")
        }
    }

    func discard() {
        guard let partial else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: partial)
    }
}
