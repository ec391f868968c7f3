// A job worker for the tests of what happens when a worker process dies: its "test.poison" handler traps, as
// a handler with a bug hit by some input would (WharfRuntimeTests/PoisonJobTests: the job is given up after
// its attempt budget, counted across restarts), and its "test.slow-effect" handler works for a while and then
// records that it finished, in the table `fault_effects` (FaultTests: a worker killed mid-job is replaced and
// the job finished by exactly one other worker). Not a product; built with the tests.
import Foundation
import Logging
import PostgresNIO
import WharfRuntime

struct SlowEffect: Decodable {
    var seconds: Double
}

let environment = ProcessInfo.processInfo.environment
guard let url = environment["WHARF_POSTGRES_URL"], let configuration = try? PostgresConfiguration(url: url) else {
    FileHandle.standardError.write(Data("job-crash-worker: WHARF_POSTGRES_URL is required\n".utf8))
    exit(78)
}
let workerID = "crash-worker-\(getpid())"
@Sendable func say(_ line: String) { FileHandle.standardError.write(Data("job-crash-worker: \(line)\n".utf8)) }
let client = PostgresClient(configuration: configuration.clientConfiguration)
let queue = JobQueue(client: client, redis: nil)
let worker = JobWorker(
    queue: queue,
    handlers: [
        "test.poison": { job in
            say("running job \(job.id), attempt \(job.attempt): trapping")
            fatalError("simulated handler crash on job \(job.id)")
        },
        "test.slow-effect": { job in
            let effect = try job.decodePayload(SlowEffect.self)
            say("running job \(job.id), attempt \(job.attempt) as \(workerID)")
            try await Task.sleep(for: .milliseconds(Int(effect.seconds * 1000)))
            try await client.query(
                "INSERT INTO fault_effects (job_id, worker, attempt) VALUES (\(job.id), \(workerID), \(job.attempt))",
                logger: Logger(label: "job-crash-worker"))
            say("finished job \(job.id)")
        },
    ],
    settings: .init(workerID: workerID, concurrency: 1, lease: .seconds(1), pollInterval: .milliseconds(100)),
    subscriber: nil)
await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await client.run() }
    group.addTask { try await worker.run() }
    try? await group.next()
}
