import Foundation
import PostgresNIO
import Testing
import WharfRuntime
import WharfTestSupport

/// A job whose handler crashes its process (the negentropy peer URL that trapped the WebSocket client was one)
/// must not be claimed again after every restart for ever: attempts are counted when a job is claimed, so
/// they survive the crash, and once the budget is spent the next worker marks it dead, keeping the reason.
@Suite("Poison jobs")
struct PoisonJobTests {
    @Test("a job that crashes its worker process is given up after its attempt budget, with the reason kept")
    func poisonJobIsGivenUp() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase(prefix: "poison")
        let configuration = postgres.configuration(database: database)
        let client = PostgresClient(configuration: configuration.clientConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await MigrationRunner.apply([JobMigrations.set], on: client, logger: .init(label: "test"))
            let queue = JobQueue(client: client, redis: nil)
            let job = try await queue.enqueue(kind: "test.poison", payload: ["peer": "wss://ü"], maxAttempts: 3)
            let worker = try builtExecutable("job-crash-worker")
            let environment = ["WHARF_POSTGRES_URL": postgres.url(database: database)]
            // A supervisor restarts the worker each time it dies (as Kubernetes or `scripts/wharf up` would).
            var crashes = 0
            for _ in 0..<3 {
                let run = try await runExecutable(worker, [], environment: environment, timeout: .seconds(30))
                #expect(run.status != 0 && run.status != nil, "\(run.output)")
                #expect(run.output.contains("running job \(job.id)"), "\(run.output)")
                crashes += 1
            }
            #expect(crashes == 3)
            // The fourth start finds the budget spent: it marks the job dead instead of running it, and lives.
            let survivor = try await runExecutable(worker, [], environment: environment, timeout: .seconds(4))
            #expect(survivor.status == nil, "the fourth worker exited: \(survivor.output)")
            #expect(!survivor.output.contains("running job"), "\(survivor.output)")
            let record = try #require(try await queue.record(jobID: job.id))
            #expect(record.state == .dead)
            #expect(record.attempts == 3)
            let reason = record.lastError ?? ""
            #expect(reason.contains("expired during attempt 3"), "\(reason)")
        }
    }
}
