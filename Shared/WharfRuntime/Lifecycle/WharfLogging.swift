import Logging
import Synchronization

/// Bootstraps swift-log once per process: one line per message on stderr, at the configured level.
public enum WharfLogging {
    private static let bootstrapped = Mutex(false)

    public static func bootstrap(level: Logger.Level) {
        let first = bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
