import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The shared job table `jobs.jobs`: enqueue, claim under a lease with `FOR UPDATE SKIP LOCKED`, renew,
/// complete, fail with back-off, cancel. Every state change is guarded by the lease owner, so a worker that
/// lost its lease (it stalled and another replica reclaimed the job) cannot complete or fail it.
public struct JobQueue: Sendable {
    /// Redis channel on which enqueue announces new work (the payload is the job kind).
    public static let wakeUpChannel = "wharf.jobs.wakeup"

    public let client: PostgresClient
    public let retryPolicy: RetryPolicy
    public let defaultMaxAttempts: Int
    private let redis: RedisClient?
    private let logger: Logger

    public init(
        client: PostgresClient, redis: RedisClient?, retryPolicy: RetryPolicy = RetryPolicy(),
        defaultMaxAttempts: Int = 5, logger: Logger = Logger(label: "wharf.jobs")
    ) {
        self.client = client
        self.redis = redis
        self.retryPolicy = retryPolicy
        self.defaultMaxAttempts = defaultMaxAttempts
        self.logger = logger
    }

    public struct Enqueued: Sendable, Equatable {
        public var id: Int64
        /// False when a live job with the same kind and unique key already existed; `id` is that job's.
        public var inserted: Bool
    }

    /// Adds a job. With a `uniqueKey`, at most one pending or running job of that kind and key exists:
    /// a second enqueue returns the existing job instead of adding one.
    @discardableResult
    public func enqueue(
        kind: String, payload: some Encodable & Sendable, runAt: Date? = nil, uniqueKey: String? = nil,
        maxAttempts: Int? = nil
    ) async throws -> Enqueued {
        let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        let attempts = maxAttempts ?? defaultMaxAttempts
        let runAt = runAt ?? Date()
        var result: Enqueued?
        for _ in 0..<3 where result == nil {
            let rows = try await client.query(
                """
                INSERT INTO jobs.jobs (kind, payload, run_at, unique_key, max_attempts)
                VALUES (\(kind), \(json)::jsonb, \(runAt), \(uniqueKey), \(attempts))
                ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('pending', 'running')
                DO NOTHING
                RETURNING id
                """, logger: logger)
            if let id = try await rows.decode(Int64.self).first(where: { _ in true }) {
                result = Enqueued(id: id, inserted: true)
            } else if let uniqueKey {
                let existing = try await client.query(
                    """
                    SELECT id FROM jobs.jobs WHERE kind = \(kind) AND unique_key = \(uniqueKey)
                    AND state IN ('pending', 'running')
                    """, logger: logger)
                // Empty when the live job finished between the two statements: then insert again.
                if let id = try await existing.decode(Int64.self).first(where: { _ in true }) {
                    result = Enqueued(id: id, inserted: false)
                }
            }
        }
        guard let result else { throw JobQueueError.enqueueRaced(kind: kind) }
        if result.inserted { await announce(kind) }
        return result
    }

    /// Claims up to `limit` due jobs of the given kinds for `workerID`: pending jobs whose `run_at` has
    /// come, and running jobs whose lease expired (their worker died or stalled). Jobs that already used
    /// every attempt and then lost their lease are marked dead instead.
    public func claim(kinds: [String], workerID: String, limit: Int, lease: Duration) async throws -> [Job] {
        guard limit > 0, !kinds.isEmpty else { return [] }
        let leaseMillis = lease.milliseconds
        try await client.query(
            """
            UPDATE jobs.jobs SET state = 'dead', finished_at = now(), updated_at = now(), lease_owner = NULL,
                last_error = 'lease of ' || coalesce(lease_owner, '?') || ' expired during attempt ' || attempts
                    || coalesce(' (earlier error: ' || last_error || ')', '')
            WHERE state = 'running' AND kind = ANY(\(kinds)) AND lease_expires_at < now() AND attempts >= max_attempts
            """, logger: logger)
        let rows = try await client.query(
            """
            UPDATE jobs.jobs AS j SET state = 'running', attempts = j.attempts + 1, lease_owner = \(workerID),
                lease_expires_at = now() + \(leaseMillis)::float8 * interval '1 millisecond', updated_at = now()
            FROM (
                SELECT id FROM jobs.jobs
                WHERE kind = ANY(\(kinds)) AND (
                    (state = 'pending' AND run_at <= now())
                    OR (state = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
                ORDER BY run_at, id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ) AS due
            WHERE j.id = due.id
            RETURNING j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, j.unique_key
            """, logger: logger)
        var jobs: [Job] = []
        for try await (id, kind, payload, attempt, maxAttempts, uniqueKey) in rows.decode(
            (Int64, String, String, Int, Int, String?).self)
        {
            jobs.append(
                Job(
                    id: id, kind: kind, payload: payload, attempt: attempt, maxAttempts: maxAttempts,
                    uniqueKey: uniqueKey))
        }
        return jobs.sorted { $0.id < $1.id }
    }

    /// Extends the lease; false when the worker no longer holds it (reclaimed or cancelled).
    public func renew(jobID: Int64, workerID: String, lease: Duration) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE jobs.jobs SET lease_expires_at = now() + \(lease.milliseconds)::float8 * interval '1 millisecond',
                updated_at = now()
            WHERE id = \(jobID) AND lease_owner = \(workerID) AND state = 'running'
            RETURNING id
            """, logger: logger)
        return try await rows.decode(Int64.self).first(where: { _ in true }) != nil
    }

    /// Marks the job succeeded; false when the worker had lost the lease.
    @discardableResult
    public func complete(jobID: Int64, workerID: String) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE jobs.jobs SET state = 'succeeded', finished_at = now(), updated_at = now(),
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(jobID) AND lease_owner = \(workerID) AND state = 'running'
            RETURNING id
            """, logger: logger)
        return try await rows.decode(Int64.self).first(where: { _ in true }) != nil
    }

    /// Records a failed attempt: the job goes back to pending after the retry delay, or is dead (with its
    /// error kept) once it has used `max_attempts`. Returns the new state, or nil when the lease was lost.
    @discardableResult
    public func fail(jobID: Int64, workerID: String, error: String) async throws -> JobState? {
        // The delay depends on the attempt number, which only the row knows: compute it in SQL from the
        // policy (base × 2^(attempts−1), capped).
        let rows = try await client.query(
            """
            UPDATE jobs.jobs SET
                state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
                run_at = CASE WHEN attempts >= max_attempts THEN run_at
                    ELSE now() + least(\(retryPolicy.baseDelay.milliseconds)::float8
                        * power(2, least(attempts - 1, 30)), \(retryPolicy.maxDelay.milliseconds)::float8)
                        * interval '1 millisecond' END,
                finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                last_error = \(error), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = \(jobID) AND lease_owner = \(workerID) AND state = 'running'
            RETURNING state
            """, logger: logger)
        guard let state = try await rows.decode(String.self).first(where: { _ in true }) else { return nil }
        return JobState(rawValue: state)
    }

    /// Cancels a pending or running job. A running job's worker notices at its next lease renewal and
    /// cancels the handler. Returns false when the job had already finished.
    @discardableResult
    public func cancel(jobID: Int64) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE jobs.jobs SET state = 'cancelled', finished_at = now(), updated_at = now(),
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(jobID) AND state IN ('pending', 'running')
            RETURNING id
            """, logger: logger)
        return try await rows.decode(Int64.self).first(where: { _ in true }) != nil
    }

    public func record(jobID: Int64) async throws -> JobRecord? {
        let rows = try await client.query(
            """
            SELECT id, kind, state, attempts, max_attempts, last_error, run_at, lease_owner
            FROM jobs.jobs WHERE id = \(jobID)
            """, logger: logger)
        for try await (id, kind, state, attempts, maxAttempts, lastError, runAt, owner) in rows.decode(
            (Int64, String, String, Int, Int, String?, Date, String?).self)
        {
            guard let state = JobState(rawValue: state) else { continue }
            return JobRecord(
                id: id, kind: kind, state: state, attempts: attempts, maxAttempts: maxAttempts,
                lastError: lastError, runAt: runAt, leaseOwner: owner)
        }
        return nil
    }

    /// Number of jobs of `kind` in each state.
    public func counts(kind: String) async throws -> [JobState: Int] {
        let rows = try await client.query(
            "SELECT state, count(*)::bigint FROM jobs.jobs WHERE kind = \(kind) GROUP BY state", logger: logger)
        var counts: [JobState: Int] = [:]
        for try await (state, count) in rows.decode((String, Int64).self) {
            if let state = JobState(rawValue: state) { counts[state] = Int(count) }
        }
        return counts
    }

    /// Tells idle workers (any replica) that work arrived. A lost message only delays the job until the
    /// next poll.
    private func announce(_ kind: String) async {
        guard let redis else { return }
        do {
            try await redis.publish(ByteBuffer(string: kind), to: Self.wakeUpChannel)
        } catch {
            logger.debug("job wake-up not published; workers will poll", metadata: ["error": "\(error)"])
        }
    }
}

public enum JobQueueError: Error, CustomStringConvertible {
    case enqueueRaced(kind: String)

    public var description: String {
        switch self {
        case .enqueueRaced(let kind): return "could not enqueue \(kind): the unique job kept changing state"
        }
    }
}
