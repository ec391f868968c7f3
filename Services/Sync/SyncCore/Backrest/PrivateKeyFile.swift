import Foundation
import WharfRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// A private key kept in a file the hub creates on first start: generated once, written whole with mode 0600 and
/// put in place atomically, so that replicas starting together agree on one key and none reads a half-written file.
enum PrivateKeyFile {
    /// Parses the key at `path`, or creates it there from `generate()` when the file does not exist. `setting` names
    /// the variable in errors.
    static func loadOrCreate<Key>(
        path: String, setting: String, generate: () -> String, parse: (String) throws -> Key
    ) throws -> Key {
        let url = URL(fileURLWithPath: path)
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            do {
                return try parse(text)
            } catch {
                throw ConfigurationProblem("\(setting) \(path): \(error)")
            }
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // The key is written whole to a private temporary file (mode 0600 from its creation, so never readable by
        // others), then hard-linked into place: link(2) fails if the name exists, so a replica starting at the
        // same moment neither overwrites the key another one wrote nor reads a half-written file.
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let descriptor = open(temporary, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard descriptor >= 0 else { throw ConfigurationProblem("\(setting) \(path): cannot be created (errno \(errno))") }
        defer { unlink(temporary) }
        let bytes = Array(generate().utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced else { throw ConfigurationProblem("\(setting) \(path): cannot be written") }
        if link(temporary, path) != 0, errno != EEXIST {
            throw ConfigurationProblem("\(setting) \(path): cannot be created (errno \(errno))")
        }
        // Another replica may have created it first: the file wins.
        do {
            return try parse(String(contentsOf: url, encoding: .utf8))
        } catch {
            throw ConfigurationProblem("\(setting) \(path): \(error)")
        }
    }
}
