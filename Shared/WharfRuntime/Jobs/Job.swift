import Foundation

/// A claimed job, handed to its handler.
public struct Job: Sendable {
    public var id: Int64
    public var kind: String
    /// The payload as JSON text.
    public var payload: String
    /// 1 on the first run, 2 on the first retry, ...
    public var attempt: Int
    public var maxAttempts: Int
    public var uniqueKey: String?

    public func decodePayload<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(payload.utf8))
    }
}

public enum JobState: String, Sendable, Codable {
    case pending, running, succeeded, dead, cancelled
}

/// A job row as stored, for inspection and tests.
public struct JobRecord: Sendable {
    public var id: Int64
    public var kind: String
    public var state: JobState
    public var attempts: Int
    public var maxAttempts: Int
    public var lastError: String?
    public var runAt: Date
    public var leaseOwner: String?
}

/// How failed jobs are retried: delay = base × 2^(attempt−1), capped at `maxDelay`.
public struct RetryPolicy: Sendable {
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(300)) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public func delay(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let delay = baseDelay * (1 << exponent)
        return min(delay, maxDelay)
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
