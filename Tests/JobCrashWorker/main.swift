// A job worker whose handler traps, as a handler with a bug hit by some input would: it exists for the test
// that a job which kills its worker is given up after its attempt budget, counted across restarts
// (WharfRuntimeTests/PoisonJobTests). Not a product; built with the tests.
import Foundation
import Logging
import PostgresNIO
import WharfRuntime

let environment = ProcessInfo.processInfo.environment
guard let url = environment["WHARF_POSTGRES_URL"], let configuration = try? PostgresConfiguration(url: url) else {
    FileHandle.standardError.write(Data("job-crash-worker: WHARF_POSTGRES_URL is required\n".utf8))
    exit(78)
}
let client = PostgresClient(configuration: configuration.clientConfiguration)
let queue = JobQueue(client: client, redis: nil)
let worker = JobWorker(
    queue: queue,
    handlers: ["test.poison": { job in
        FileHandle.standardError.write(Data("job-crash-worker: running job \(job.id), attempt \(job.attempt): trapping\n".utf8))
        fatalError("simulated handler crash on job \(job.id)")
    }],
    settings: .init(workerID: "crash-worker-\(getpid())", concurrency: 1, lease: .seconds(1), pollInterval: .milliseconds(100)),
    subscriber: nil)
await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await client.run() }
    group.addTask { try await worker.run() }
    try? await group.next()
}
