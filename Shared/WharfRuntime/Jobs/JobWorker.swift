import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Runs a job's work. Throwing records a failed attempt (retried with back-off until `max_attempts`).
/// The task is cancelled if the job is cancelled or the lease is lost while it runs.
public typealias JobHandler = @Sendable (Job) async throws -> Void

/// Claims and runs jobs of the kinds it has handlers for, up to `concurrency` at a time, renewing each
/// job's lease while its handler runs. It starts at once when a Redis wake-up arrives and otherwise polls
/// every `pollInterval`, so it keeps working (more slowly) while Redis is down.
public final class JobWorker: Service, Sendable {
    public struct Settings: Sendable {
        public var workerID: String
        public var concurrency: Int
        public var lease: Duration
        public var pollInterval: Duration

        public init(
            workerID: String, concurrency: Int = 4, lease: Duration = .seconds(30),
            pollInterval: Duration = .seconds(2)
        ) {
            self.workerID = workerID
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
        }
    }

    private let queue: JobQueue
    private let handlers: [String: JobHandler]
    private let settings: Settings
    private let subscriber: RedisSubscriber?
    private let logger: Logger
    private let doorbell = Doorbell()
    private let running = Mutex(0)
    private let stopping = Mutex(false)

    public init(
        queue: JobQueue, handlers: [String: JobHandler], settings: Settings, subscriber: RedisSubscriber?,
        logger: Logger = Logger(label: "wharf.jobs.worker")
    ) {
        self.queue = queue
        self.handlers = handlers
        self.settings = settings
        self.subscriber = subscriber
        self.logger = logger
    }

    public func run() async throws {
        let kinds = Array(handlers.keys)
        guard !kinds.isEmpty else { return }
        await withDiscardingTaskGroup { group in
            if let subscriber {
                group.addTask { [doorbell] in
                    for await message in subscriber.messages(on: JobQueue.wakeUpChannel) {
                        if kinds.contains(String(buffer: message.payload)) { doorbell.ring() }
                    }
                }
            }
            // Graceful shutdown stops claiming; jobs already running finish (their handlers are only
            // cancelled if the whole service is cancelled, and then their leases expire and another
            // replica reruns them).
            await withGracefulShutdownHandler {
                await self.claimLoop(kinds: kinds)
            } onGracefulShutdown: {
                self.stopping.withLock { $0 = true }
                self.doorbell.ring()
            }
            group.cancelAll()
        }
    }

    private func claimLoop(kinds: [String]) async {
        await withDiscardingTaskGroup { group in
            var failures = 0
            while !Task.isCancelled && !stopping.withLock({ $0 }) {
                let free = settings.concurrency - running.withLock { $0 }
                var claimedAll = false
                if free > 0 {
                    do {
                        let jobs = try await queue.claim(
                            kinds: kinds, workerID: settings.workerID, limit: free, lease: settings.lease)
                        failures = 0
                        claimedAll = jobs.count == free
                        for job in jobs {
                            running.withLock { $0 += 1 }
                            group.addTask {
                                await self.process(job)
                                self.running.withLock { $0 -= 1 }
                                self.doorbell.ring()
                            }
                        }
                    } catch {
                        if Task.isCancelled { break }
                        failures += 1
                        logger.warning("claiming jobs failed", metadata: ["error": "\(error)", "failures": "\(failures)"])
                    }
                }
                // More may be due right away when a full batch was claimed; otherwise sleep until woken.
                if claimedAll { continue }
                let pause = failures > 0 ? min(settings.pollInterval * failures, .seconds(30)) : settings.pollInterval
                await doorbell.wait(timeout: pause)
            }
        }
    }

    private enum Outcome {
        case finished
        case failed(String)
        case leaseLost
    }

    private func process(_ job: Job) async {
        guard let handler = handlers[job.kind] else { return }
        var metadata: Logger.Metadata = ["job": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)"]
        let outcome: Outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    try await handler(job)
                    return .finished
                } catch is CancellationError {
                    return Task.isCancelled ? nil : .failed("cancelled")
                } catch {
                    return .failed(String(describing: error))
                }
            }
            group.addTask {
                // Renew at a third of the lease so one slow round trip does not lose it.
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.settings.lease / 3)
                    if Task.isCancelled { return nil }
                    do {
                        if try await !self.queue.renew(
                            jobID: job.id, workerID: self.settings.workerID,
                            lease: self.settings.lease)
                        {
                            return .leaseLost
                        }
                    } catch {
                        self.logger.warning("lease renewal failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
                    }
                }
                return nil
            }
            var outcome: Outcome = .leaseLost
            if let first = await group.next(), let value = first { outcome = value }
            group.cancelAll()
            return outcome
        }
        do {
            switch outcome {
            case .finished:
                if try await !queue.complete(jobID: job.id, workerID: settings.workerID) {
                    logger.warning("job finished after its lease was lost; result not recorded", metadata: metadata)
                }
            case .failed(let error):
                metadata["error"] = "\(error)"
                let state = try await queue.fail(jobID: job.id, workerID: settings.workerID, error: error)
                logger.warning(
                    state == .dead ? "job failed for the last time" : "job failed; will retry",
                    metadata: metadata)
            case .leaseLost:
                logger.warning("job lease lost (cancelled or reclaimed); handler stopped", metadata: metadata)
            }
        } catch {
            metadata["error"] = "\(error)"
            // Cancelled (the service is stopping hard) or the database is unreachable: either way the job
            // stays running until its lease expires, then another worker reruns it.
            logger.log(
                level: Task.isCancelled ? .notice : .error,
                "recording job outcome failed; the lease will expire and the job rerun", metadata: metadata)
        }
    }
}
