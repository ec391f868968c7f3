import Testing
import WharfRuntime
import WharfTestSupport

@Suite("InFlightLimit: work under way bounded by count and weight")
struct InFlightLimitTests {
    @Test("enter waits at either bound, first come first in; leave lets the waiting in; the count returns to zero")
    func bounds() async throws {
        let limit = InFlightLimit(maximumCount: 3, maximumWeight: 100)
        try await limit.enter(weight: 40)
        try await limit.enter(weight: 40)
        // 40 more would pass the weight bound: waits; the small one behind it waits its turn.
        let heavy = Task {
            try await limit.enter(weight: 40)
        }
        let light = Task {
            while limit.waiting < 1 { await Task.yield() }
            try await limit.enter(weight: 1)
        }
        #expect(try await eventually { limit.waiting == 2 })
        #expect(limit.inFlight == (2, 80))
        limit.leave(weight: 40)
        try await heavy.value
        try await light.value
        #expect(limit.inFlight == (3, 81))
        for weight in [40, 40, 1] { limit.leave(weight: weight) }
        #expect(limit.inFlight == (0, 0))
        // One piece heavier than the whole bound gets in when nothing else is under way.
        try await limit.enter(weight: 1_000)
        #expect(limit.inFlight == (1, 1_000))
        limit.leave(weight: 1_000)
        #expect(limit.inFlight == (0, 0))
    }

    @Test("a cancelled waiter leaves the queue without a place; idle returns when the last piece leaves")
    func cancellationAndIdle() async throws {
        let limit = InFlightLimit(maximumCount: 1, maximumWeight: 10)
        await limit.idle()  // nothing under way: at once
        try await limit.enter(weight: 1)
        let waiter = Task { try await limit.enter(weight: 1) }
        let idle = Task { await limit.idle() }
        #expect(try await eventually { limit.waiting == 1 })
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limit.inFlight == (1, 1))
        limit.leave(weight: 1)
        await idle.value
        #expect(limit.inFlight == (0, 0))
        // Cancelled before it starts waiting: refused, nothing counted.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await limit.enter(weight: 1)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(limit.inFlight == (0, 0))
    }
}
