import BLAKE3
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
/// Nothing the user did not name is ever removed: a directory is refused as a destination, the rename
/// replaces only a file, and an interrupt (SIGINT, SIGTERM) removes the temporary file before exiting.
final class VerifiedOutput: Sendable {
    let path: String
    private let partial: String?
    private let handle: FileHandle
    private let hasher = Mutex(BLAKE3Hasher())
    private let interrupts: InterruptCleanup?

    init(path: String) throws {
        self.path = path
        if path == "-" {
            partial = nil
            handle = .standardOutput
            interrupts = nil
            return
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CommandFailure.input("\(path) is a directory: name the file to write (-o \(path)/<name>)")
        }
        let partial = "\(path).partial-\(getpid())"
        // Created exclusively (O_EXCL): never truncates or follows anything already there.
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CommandFailure.input("\(path): cannot be written (creating \(partial) failed: \(String(cString: strerror(errno))))")
        }
        self.partial = partial
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        interrupts = InterruptCleanup(removing: partial)
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
        defer { interrupts?.stop() }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw CommandFailure.input("\(path): could not be written (\(error.localizedDescription))")
        }
        // rename(2) replaces a file atomically and refuses a directory (one made meanwhile stays untouched).
        guard rename(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: partial)
            throw CommandFailure.input("\(path): could not be put in place (\(reason)); nothing was changed there")
        }
    }

    func discard() {
        guard let partial else { return }
        interrupts?.stop()
        try? handle.close()
        unlink(partial)
    }
}

/// Removes a temporary file when the process is interrupted, then exits as an interrupted process does
/// (128 + the signal). Unchecked: dispatch sources are safe to cancel from any thread, and the array is
/// never changed after init.
final class InterruptCleanup: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(removing path: String) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                unlink(path)
                exit(128 + number)
            }
            source.resume()
            return source
        }
    }

    /// The file is in place or gone: interrupts act as before.
    func stop() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
