import Foundation
import Synchronization

/// A child process started with `posix_spawn` and a clean signal state. Foundation's `Process` passes on
/// the spawning thread's signal mask, and test-runner threads block almost every signal, so a server
/// started that way never sees SIGTERM/SIGINT; here the mask is emptied and the usual signals reset.
public final class SpawnedProcess: Sendable {
    public let pid: pid_t
    public let executable: String
    private let exitStatus = Mutex<Int32?>(nil)

    /// - Parameter outputPath: file receiving stdout and stderr (appended); /dev/null when nil.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, outputPath: String? = nil
    ) throws -> SpawnedProcess {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        // Nothing else leaks into the child: an inherited pipe end would keep another reader from seeing
        // EOF, an inherited socket would keep a test's connection alive.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&fileActions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // Own process group: a terminal's Ctrl-C aimed at the test run is not delivered to servers twice.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let environment = environment ?? ProcessInfo.processInfo.environment
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &fileActions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestSupportError("posix_spawn \(executable) failed: \(String(cString: strerror(result)))")
        }
        let process = SpawnedProcess(pid: pid, executable: executable)
        ChildProcesses.track(process)
        return process
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+); Swift's Glibc module does not import it
    /// because the header hides it behind _GNU_SOURCE.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private init(pid: pid_t, executable: String) {
        self.pid = pid
        self.executable = executable
    }

    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// False once the process has exited (its status is then collected).
    public var isRunning: Bool {
        exitStatus.withLock { status in
            if status != nil { return false }
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid || reaped < 0 {
                status = raw
                return false
            }
            return true
        }
    }

    /// The exit code (128 + signal when killed by a signal), or nil if still running after `timeout`.
    public func waitForExit(timeout: Duration) async -> Int32? {
        _ = await eventually(timeout: timeout, every: .milliseconds(20)) { !isRunning }
        guard let raw = exitStatus.withLock({ $0 }) else { return nil }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// SIGINT, then SIGKILL if it is still running after `grace`.
    public func stop(grace: Duration = .seconds(10)) async {
        send(SIGINT)
        if await waitForExit(timeout: grace) == nil {
            send(SIGKILL)
            _ = await waitForExit(timeout: .seconds(5))
        }
        ChildProcesses.untrack(self)
    }
}
