import Foundation
import Synchronization

/// Processes started by the test support, terminated when the test process exits.
enum ChildProcesses {
    private static let running = Mutex<[Int32: SpawnedProcess]>([:])
    private static let hookInstalled = Mutex(false)

    static func track(_ process: SpawnedProcess) {
        running.withLock { $0[process.pid] = process }
        let install = hookInstalled.withLock { installed -> Bool in
            defer { installed = true }
            return !installed
        }
        if install { atexit { ChildProcesses.terminateAll() } }
    }

    static func untrack(_ process: SpawnedProcess) {
        _ = running.withLock { $0.removeValue(forKey: process.pid) }
    }

    static func terminateAll() {
        let processes = running.withLock { running in
            defer { running = [:] }
            return Array(running.values)
        }
        for process in processes { process.send(SIGINT) }
        for process in processes {
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            process.send(SIGKILL)
        }
        TemporaryDirectories.removeAll()
    }
}

/// Folders for test servers, named `wharf-test-<kind>-<id>`, each with an `owner.pid` (the test process)
/// and a `server.pid`. A test process killed outright never runs its exit hook, so the first folder made
/// by a later run sweeps away servers whose owner is gone.
public enum TemporaryDirectories {
    private static let paths = Mutex<[String]>([])
    private static let swept = Mutex(false)

    public static func make(prefix: String) throws -> String {
        sweepStale()
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("wharf-test-\(prefix)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try String(getpid()).write(toFile: "\(path)/owner.pid", atomically: true, encoding: .utf8)
        paths.withLock { $0.append(path) }
        return path
    }

    static func recordServer(pid: pid_t, in path: String) {
        try? String(pid).write(toFile: "\(path)/server.pid", atomically: true, encoding: .utf8)
    }

    private static func sweepStale() {
        let first = swept.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let temporary = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix("wharf-test-") {
            let path = "\(temporary)/\(name)"
            func pid(_ file: String) -> pid_t? {
                (try? String(contentsOfFile: "\(path)/\(file)", encoding: .utf8)).flatMap {
                    pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            guard let owner = pid("owner.pid"), kill(owner, 0) != 0 else { continue }
            if let server = pid("server.pid") { kill(server, SIGKILL) }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    static func removeAll() {
        for path in paths.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a command to completion and returns its output; throws with the output when it fails.
/// Output goes through a file, not a pipe: a server spawned meanwhile by another test could hold a
/// pipe's write end and the read would never see EOF.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String]) async throws -> String {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-cmd-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let process = try SpawnedProcess.spawn(executable, arguments, outputPath: outputPath)
    let status = await process.waitForExit(timeout: .seconds(120))
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw TestSupportError("\(executable) \(arguments.joined(separator: " ")) failed (\(status.map(String.init) ?? "timeout")): \(output)")
    }
    return output
}

/// Finds an executable on PATH or in the given folders.
func findExecutable(_ name: String, extraFolders: [String] = []) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for folder in extraFolders + path.split(separator: ":").map(String.init) {
        let candidate = "\(folder)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A TCP port nobody listens on right now, for a service that must know its own or a peer's port before it starts.
/// Taken below the kernel's ephemeral range (32768–60999 here) and handed out once per test process: a port the
/// kernel chose for `bind(0)` is the next outgoing connection's source port on a busy machine, and another test's
/// server bound to port 0 can take it before the service binds (CI saw a routing node fail to listen that way).
public func freePort() throws -> Int {
    for _ in 0..<PortAllotment.span {
        let port = PortAllotment.next()
        if canBind(port: port) { return port }
    }
    throw TestSupportError("no free port in \(PortAllotment.first)..<\(PortAllotment.first + PortAllotment.span)")
}

/// The test process's walk through ports 20000–32767, starting at a place chosen by its process id so that two
/// test processes on one machine rarely walk the same ports.
private enum PortAllotment {
    static let first = 20000
    static let span = 12768
    private static let cursor = Atomic<Int>(Int(getpid()) &* 7919 % span)
    static func next() -> Int {
        let step = cursor.add(1, ordering: .relaxed).oldValue
        return first + (step % span + span) % span
    }
}

/// True when a socket may bind 127.0.0.1:`port` now.
private func canBind(port: Int) -> Bool {
    withLoopbackSocket(port: port) { fd, address, length in
        var reuse: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        return bind(fd, address, length) == 0
    }
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
public func isListening(port: Int) -> Bool {
    withLoopbackSocket(port: port) { fd, address, length in connect(fd, address, length) == 0 }
}

/// Runs `body` with a new TCP socket and the address 127.0.0.1:`port`; the socket is closed after.
private func withLoopbackSocket(
    port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool
) -> Bool {
    guard let port = UInt16(exactly: port) else { return false }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port.bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(
    timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// A value created once per test process by the first caller; later callers wait for the same one.
public final class OncePerProcess<Value: Sendable>: Sendable {
    public init() {}

    private let task = Mutex<Task<Value, any Error>?>(nil)

    public func value(_ make: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = task.withLock { task in
            if let task { return task }
            let created = Task { try await make() }
            task = created
            return created
        }
        return try await task.value
    }
}
