import Foundation
import Logging
import PostgresNIO
import Testing
import WharfRuntime
import WharfTestSupport

extension FaultTests {
    @Test("kill -9 of a job worker mid-job: another worker finishes the job, exactly once")
    func workerKilledMidJob() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase(prefix: "fault_jobs")
        let client = PostgresClient(configuration: postgres.configuration(database: database).clientConfiguration)
        let logger = Logger(label: "fault.jobs")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await MigrationRunner.apply([JobMigrations.set], on: client, logger: logger)
            try await client.query("CREATE TABLE fault_effects (job_id bigint, worker text, attempt int)", logger: logger)
            let queue = JobQueue(client: client, redis: nil)
            let job = try await queue.enqueue(kind: "test.slow-effect", payload: ["seconds": 3.0], maxAttempts: 5)
            let executable = try builtExecutable("job-crash-worker")
            let folder = try TemporaryDirectories.make(prefix: "fault-worker")
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WHARF_") }
            environment["WHARF_POSTGRES_URL"] = postgres.url(database: database)
            func spawnWorker(_ name: String) throws -> (SpawnedProcess, String) {
                let log = "\(folder)/\(name).log"
                return (try SpawnedProcess.spawn(executable, [], environment: environment, outputPath: log), log)
            }
            func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

            let (first, firstLog) = try spawnWorker("first")
            #expect(
                await eventually(timeout: .seconds(20)) { log(firstLog).contains("running job \(job.id), attempt 1") },
                "the first worker never started the job: \(log(firstLog))")
            try await Task.sleep(for: .milliseconds(500))  // mid-job: it works for 3 s
            let clock = ContinuousClock()
            let killedAt = clock.now
            first.send(SIGKILL)
            #expect(await first.waitForExit(timeout: .seconds(5)) == 128 + SIGKILL)

            // Two replacements start together: one of them takes the job once the dead worker's lease expires.
            let (second, secondLog) = try spawnWorker("second")
            let (third, thirdLog) = try spawnWorker("third")
            defer {
                Task {
                    await second.stop(); await third.stop()
                }
            }
            let finished = await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
                (try? await queue.record(jobID: job.id))?.state == .succeeded
            }
            let recovery = clock.now - killedAt
            #expect(finished, "the job was not finished: \(log(secondLog))\n\(log(thirdLog))")
            // Whatever might still run it late has had the time to.
            try await Task.sleep(for: .seconds(4))
            let rows = try await client.query("SELECT worker, attempt FROM fault_effects WHERE job_id = \(job.id)", logger: logger)
            var effects: [(String, Int)] = []
            for try await (worker, attempt) in rows.decode((String, Int).self) { effects.append((worker, attempt)) }
            #expect(effects.count == 1, "the job's effect happened \(effects.count) times: \(effects)")
            #expect(effects.first?.0 != "crash-worker-\(first.pid)")
            #expect([second.pid, third.pid].map { "crash-worker-\($0)" }.contains(effects.first?.0 ?? ""))
            let record = try #require(try await queue.record(jobID: job.id))
            #expect(record.state == .succeeded)
            #expect(record.attempts == 2)
            let starts = [secondLog, thirdLog].map { log($0).components(separatedBy: "running job \(job.id)").count - 1 }
            #expect(starts.reduce(0, +) == 1, "the job was started \(starts) times by the replacements")
            reportFigures(
                "job worker kill -9",
                [
                    "job_attempts": "\(record.attempts)", "effects": "\(effects.count)",
                    "kill_to_finished": milliseconds(recovery), "job_duration": "3000 ms", "lease": "1000 ms",
                ])
        }
    }
}
