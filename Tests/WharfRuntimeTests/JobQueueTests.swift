import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import WharfRuntime
import WharfTestSupport

struct Payload: Codable, Sendable, Equatable {
    var number: Int
}

@Suite("Job queue on jobs.jobs")
struct JobQueueTests {
    @Test("1,000 jobs claimed by 4 concurrent workers are each completed exactly once")
    func thousandJobsFourWorkers() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let queue = JobQueue(client: client, redis: nil)
            for number in 0..<1000 {
                try await queue.enqueue(kind: "count", payload: Payload(number: number))
            }
            let runs = Mutex<[Int: [String]]>([:])
            let workers = (0..<4).map { index in
                JobWorker(
                    queue: queue,
                    handlers: [
                        "count": { job in
                            let payload = try job.decodePayload(Payload.self)
                            runs.withLock { $0[payload.number, default: []].append("worker-\(index)") }
                        }
                    ],
                    settings: .init(
                        workerID: "worker-\(index)", concurrency: 4, lease: .seconds(30),
                        pollInterval: .milliseconds(50)),
                    subscriber: nil)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in workers { group.addTask { try await worker.run() } }
                let done = try await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                    try await queue.counts(kind: "count")[.succeeded] == 1000
                }
                #expect(done)
                group.cancelAll()
            }
            let counts = try await queue.counts(kind: "count")
            #expect(counts == [.succeeded: 1000])
            let handled = runs.withLock { $0 }
            #expect(handled.count == 1000)
            #expect(handled.values.allSatisfy { $0.count == 1 })
            // The work was actually shared: more than one worker ran jobs.
            #expect(Set(handled.values.flatMap { $0 }).count > 1)
        }
    }

    @Test("a job whose worker stops renewing its lease is reclaimed and finished by another worker")
    func expiredLeaseIsReclaimed() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let queue = JobQueue(client: client, redis: nil)
            let job = try await queue.enqueue(kind: "lease", payload: Payload(number: 7))
            // A worker claims it with a short lease and then stalls (never renews, never completes). The lease
            // is long enough that the check below runs inside it even on a loaded machine (300 ms was not).
            let stalled = try await queue.claim(kinds: ["lease"], workerID: "stalled", limit: 10, lease: .seconds(2))
            #expect(stalled.map(\.id) == [job.id])
            // While the lease holds, nobody else can take it.
            #expect(try await queue.claim(kinds: ["lease"], workerID: "other", limit: 10, lease: .seconds(30)).isEmpty)

            let ranBy = Mutex<[Int]>([])
            let worker = JobWorker(
                queue: queue,
                handlers: ["lease": { job in ranBy.withLock { $0.append(job.attempt) } }],
                settings: .init(workerID: "rescuer", concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(50)),
                subscriber: nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                // Up to 30 s: the rescuer claims it only after the 2 s lease, and the general phase runs 69 suites at once.
                let finished = try await eventually(timeout: .seconds(30)) { try await queue.record(jobID: job.id)?.state == .succeeded }
                #expect(finished)
                group.cancelAll()
            }
            #expect(ranBy.withLock { $0 } == [2])
            let record = try #require(try await queue.record(jobID: job.id))
            #expect(record.attempts == 2)
            // The stalled worker's late completion is refused: it no longer holds the lease.
            #expect(try await queue.complete(jobID: job.id, workerID: "stalled") == false)
            #expect(try await queue.renew(jobID: job.id, workerID: "stalled", lease: .seconds(1)) == false)
        }
    }

    @Test("a failing job is retried with exponential back-off and ends dead after max attempts, error kept")
    func retriesThenDead() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let queue = JobQueue(
                client: client, redis: nil,
                retryPolicy: RetryPolicy(baseDelay: .milliseconds(300), maxDelay: .seconds(10)))
            let job = try await queue.enqueue(kind: "flaky", payload: Payload(number: 1), maxAttempts: 3)
            let attempts = Mutex<[(Int, ContinuousClock.Instant)]>([])
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "flaky": { job in
                        attempts.withLock { $0.append((job.attempt, ContinuousClock.now)) }
                        throw TestFailure(message: "boom on attempt \(job.attempt)")
                    }
                ],
                settings: .init(workerID: "w", concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(20)),
                subscriber: nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                let dead = try await eventually(timeout: .seconds(20)) { try await queue.record(jobID: job.id)?.state == .dead }
                #expect(dead)
                group.cancelAll()
            }
            let record = try #require(try await queue.record(jobID: job.id))
            #expect(record.state == .dead)
            #expect(record.attempts == 3)
            #expect(record.lastError == "boom on attempt 3")
            let seen = attempts.withLock { $0 }
            #expect(seen.map(\.0) == [1, 2, 3])
            if seen.count == 3 {
                // Delays: 300 ms after attempt 1, 600 ms after attempt 2.
                #expect(seen[1].1 - seen[0].1 >= .milliseconds(300))
                #expect(seen[2].1 - seen[1].1 >= .milliseconds(600))
            }
            // A dead job is never claimed again.
            #expect(try await queue.claim(kinds: ["flaky"], workerID: "w2", limit: 5, lease: .seconds(1)).isEmpty)
        }
    }

    @Test("retry delays double from the base and stop at the cap")
    func retryPolicy() {
        let policy = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(10))
        #expect((1...6).map { policy.delay(afterAttempt: $0) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
    }

    @Test("a unique key de-duplicates live jobs; a finished job lets the key be used again")
    func uniqueKey() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let queue = JobQueue(client: client, redis: nil)
            let first = try await queue.enqueue(kind: "sync", payload: Payload(number: 1), uniqueKey: "peer-a")
            let second = try await queue.enqueue(kind: "sync", payload: Payload(number: 2), uniqueKey: "peer-a")
            let other = try await queue.enqueue(kind: "sync", payload: Payload(number: 3), uniqueKey: "peer-b")
            #expect(first.inserted && !second.inserted && other.inserted)
            #expect(second.id == first.id)
            let claimed = try await queue.claim(kinds: ["sync"], workerID: "w", limit: 1, lease: .seconds(30))
            #expect(claimed.map(\.id) == [first.id])
            #expect(claimed.first?.uniqueKey == "peer-a")
            // Still live while running.
            #expect(try await queue.enqueue(kind: "sync", payload: Payload(number: 4), uniqueKey: "peer-a").inserted == false)
            #expect(try await queue.complete(jobID: first.id, workerID: "w"))
            let again = try await queue.enqueue(kind: "sync", payload: Payload(number: 5), uniqueKey: "peer-a")
            #expect(again.inserted && again.id != first.id)
        }
    }

    @Test("a job scheduled in the future is not claimed before its run_at")
    func runAt() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let queue = JobQueue(client: client, redis: nil)
            // Far enough apart that a loaded machine cannot blur them: an hour ahead and a second behind.
            let later = try await queue.enqueue(kind: "later", payload: Payload(number: 1), runAt: Date().addingTimeInterval(3600))
            #expect(try await queue.claim(kinds: ["later"], workerID: "w", limit: 1, lease: .seconds(5)).isEmpty)
            let due = try await queue.enqueue(kind: "later", payload: Payload(number: 2), runAt: Date().addingTimeInterval(-1))
            #expect(try await queue.claim(kinds: ["later"], workerID: "w", limit: 2, lease: .seconds(5)).map(\.id) == [due.id])
            #expect(try await queue.claim(kinds: ["later"], workerID: "w", limit: 2, lease: .seconds(5)).isEmpty)
            #expect(later.id != due.id)
        }
    }

    @Test("cancelling a pending job means it never runs; cancelling a running job stops its handler")
    func cancellation() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let queue = JobQueue(client: client, redis: nil)
            let pending = try await queue.enqueue(kind: "cancel-pending", payload: Payload(number: 1))
            #expect(try await queue.cancel(jobID: pending.id))
            #expect(try await queue.claim(kinds: ["cancel-pending"], workerID: "w", limit: 5, lease: .seconds(5)).isEmpty)
            #expect(try await queue.record(jobID: pending.id)?.state == .cancelled)
            #expect(try await queue.cancel(jobID: pending.id) == false)

            let running = try await queue.enqueue(kind: "cancel-running", payload: Payload(number: 2))
            let started = Mutex(false)
            let stopped = Mutex(false)
            let worker = JobWorker(
                queue: queue,
                handlers: [
                    "cancel-running": { _ in
                        started.withLock { $0 = true }
                        do {
                            try await Task.sleep(for: .seconds(60))
                        } catch {
                            stopped.withLock { $0 = true }
                            throw error
                        }
                    }
                ],
                settings: .init(workerID: "w", concurrency: 1, lease: .milliseconds(600), pollInterval: .milliseconds(50)),
                subscriber: nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                #expect(await eventually { started.withLock { $0 } })
                let cancelled = try await queue.cancel(jobID: running.id)
                #expect(cancelled)
                // The worker notices at its next lease renewal (a third of the lease).
                #expect(await eventually(timeout: .seconds(5)) { stopped.withLock { $0 } })
                group.cancelAll()
            }
            #expect(try await queue.record(jobID: running.id)?.state == .cancelled)
        }
    }

    @Test("an enqueue wakes an idle worker through Redis at once, long before its next poll")
    func redisWakeUp() async throws {
        let redis = try await TestRedis.shared()
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let publisher = RedisClient(configuration: redis.configuration)
            let subscriber = RedisSubscriber(configuration: redis.configuration)
            let queue = JobQueue(client: client, redis: publisher)
            let ran = Mutex<ContinuousClock.Instant?>(nil)
            let kind = "wake-\(UInt32.random(in: 0...UInt32.max))"
            let worker = JobWorker(
                queue: queue, handlers: [kind: { _ in ran.withLock { $0 = .now } }],
                settings: .init(workerID: "w", concurrency: 1, lease: .seconds(30), pollInterval: .seconds(60)),
                subscriber: subscriber)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await subscriber.run() }
                group.addTask { try await worker.run() }
                #expect(await eventually { subscriber.isSubscribed(to: JobQueue.wakeUpChannel) })
                try await Task.sleep(for: .milliseconds(200))  // the worker's first (empty) poll is over
                let enqueued = ContinuousClock.now
                try await queue.enqueue(kind: kind, payload: Payload(number: 1))
                #expect(await eventually(timeout: .seconds(10)) { ran.withLock { $0 } != nil })
                if let at = ran.withLock({ $0 }) { #expect(at - enqueued < .seconds(5)) }
                subscriber.stop()
                group.cancelAll()
            }
            await publisher.shutdown()
        }
    }

    @Test("with Redis unreachable, enqueue still succeeds and workers find jobs by polling")
    func pollingWithoutRedis() async throws {
        try await withTestDatabase(migrations: [JobMigrations.set]) { client, _ in
            let deadRedis = RedisConfiguration(host: "127.0.0.1", port: try freePort())
            let publisher = RedisClient(configuration: deadRedis)
            let subscriber = RedisSubscriber(configuration: deadRedis)
            let queue = JobQueue(client: client, redis: publisher)
            let ran = Mutex(0)
            let worker = JobWorker(
                queue: queue, handlers: ["poll": { _ in ran.withLock { $0 += 1 } }],
                settings: .init(workerID: "w", concurrency: 2, lease: .seconds(30), pollInterval: .milliseconds(200)),
                subscriber: subscriber)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await subscriber.run() }
                group.addTask { try await worker.run() }
                for number in 0..<5 { try await queue.enqueue(kind: "poll", payload: Payload(number: number)) }
                #expect(await eventually(timeout: .seconds(10)) { ran.withLock { $0 } == 5 })
                subscriber.stop()
                group.cancelAll()
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
