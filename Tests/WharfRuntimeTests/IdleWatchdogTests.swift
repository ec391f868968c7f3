import GRPCCore
import Synchronization
import Testing
import WharfRuntime

@Suite("IdleWatchdog: idleness is the caller's, not the server's; a maximum duration ends any stream")
struct IdleWatchdogTests {
    @Test("a stream whose server works longer than the idle limit is not ended for it; one that waits on its caller is")
    func workIsNotIdleness() async throws {
        let finished = try await IdleWatchdog.run(limit: .milliseconds(200), what: "a test stream") { activity in
            activity.beginWork()
            try await Task.sleep(for: .milliseconds(600))  // the server's own work: three idle limits
            activity.endWork()
            return "done"
        }
        #expect(finished == "done")
        let waited = await #expect(throws: RPCError.self) {
            _ = try await IdleWatchdog.run(limit: .milliseconds(200), what: "a test stream") { _ in
                try await Task.sleep(for: .seconds(30))  // waiting on a caller that sends nothing
                return "never"
            }
        }
        #expect(waited?.code == .resourceExhausted && waited?.message.contains("no progress") == true)
    }

    @Test("a maximum duration ends a stream that keeps making progress, and the action at the limit runs")
    func maximumDuration() async throws {
        let released = ReleaseFlag()
        let ended = await #expect(throws: RPCError.self) {
            _ = try await IdleWatchdog.run(
                limit: .seconds(5), what: "a test stream", maximumDuration: .milliseconds(300),
                whenLimitReached: { released.set() }
            ) { activity in
                while true {
                    activity.touch()
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        #expect(ended?.message.contains("ran longer than") == true)
        #expect(released.isSet)
    }
}

private final class ReleaseFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
