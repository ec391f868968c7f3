import Foundation
import Logging
import NIOCore
import PostgresNIO
import WharfRuntime

// Throughput of the runtime's Redis client and job queue against running servers
// (scripts/bench-runtime starts them with scripts/wharf up and prints the comparison).
// Usage: RuntimeBench <postgres-url> <redis-url>

struct NoPayload: Codable, Sendable {}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

@main
struct RuntimeBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3 else {
            print("usage: RuntimeBench <postgres-url> <redis-url>")
            exit(2)
        }
        let postgres = try PostgresConfiguration(url: arguments[1])
        let redis = try RedisConfiguration(url: arguments[2])
        try await benchRedis(redis)
        try await benchJobs(postgres: postgres, redis: redis)
    }

    static func benchRedis(_ configuration: RedisConfiguration) async throws {
        let client = RedisClient(configuration: configuration)
        let total = 200_000
        let callers = 64
        let value = ByteBuffer(repeating: 0x78, count: 3)
        _ = try await client.send(["PING"])
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<callers {
                    group.addTask {
                        for index in stride(from: caller, to: total, by: callers) {
                            _ = try await client.send(buffers: [ByteBuffer(string: "SET"), ByteBuffer(string: "bench:\(index % 1000)"), value])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        print(
            String(
                format: "redis_client_set_ops_per_s %.0f  (%d SET, %d concurrent callers, one connection)",
                Double(total) / seconds(elapsed), total, callers))
        await client.shutdown()
    }

    static func benchJobs(postgres: PostgresConfiguration, redis: RedisConfiguration) async throws {
        let client = PostgresClient(configuration: postgres.clientConfiguration)
        let logger = Logger(label: "bench")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await MigrationRunner.apply([JobMigrations.set], on: client, logger: logger)
            let kind = "bench-\(UInt32.random(in: 0...UInt32.max))"
            let queue = JobQueue(client: client, redis: nil)
            let total = 10_000
            let clock = ContinuousClock()
            let enqueueTime = try await clock.measure {
                try await withThrowingTaskGroup(of: Void.self) { enqueuers in
                    for worker in 0..<16 {
                        enqueuers.addTask {
                            for _ in stride(from: worker, to: total, by: 16) {
                                try await queue.enqueue(kind: kind, payload: NoPayload())
                            }
                        }
                    }
                    try await enqueuers.waitForAll()
                }
            }
            print(String(format: "jobs_enqueue_per_s %.0f  (%d jobs, 16 concurrent enqueuers)", Double(total) / seconds(enqueueTime), total))

            let workers = (0..<4).map { index in
                JobWorker(
                    queue: queue, handlers: [kind: { _ in }],
                    settings: .init(
                        workerID: "bench-\(index)", concurrency: 16, lease: .seconds(30),
                        pollInterval: .milliseconds(20)),
                    subscriber: nil)
            }
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { running in
                for worker in workers { running.addTask { try await worker.run() } }
                // Finished means recorded as succeeded in PostgreSQL, not just handled.
                while try await queue.counts(kind: kind)[.succeeded, default: 0] < total {
                    try await Task.sleep(for: .milliseconds(20))
                }
                running.cancelAll()
            }
            let processTime = clock.now - start
            print(
                String(
                    format: "jobs_claim_complete_per_s %.0f  (%d no-op jobs, 4 workers x 16 concurrent)", Double(total) / seconds(processTime), total)
            )
            try await client.query("DELETE FROM jobs.jobs WHERE kind = \(kind)")
            group.cancelAll()
        }
    }
}
