import Synchronization
import Testing
import WharfRuntime

@Suite("ReadAhead: a bounded queue between a stream's reader and its consumer")
struct ReadAheadTests {
    struct Boom: Error, Equatable {}

    @Test("the reader waits when the queue is full and goes on when the consumer takes one")
    func boundedReader() async throws {
        let inbox = ReadAhead<Int>(capacity: 3)
        let pushed = Atomic<Int>(0)
        let reader = Task {
            for value in 1...10 {
                try await inbox.push(value)
                pushed.add(1, ordering: .sequentiallyConsistent)
            }
            inbox.finish()
        }
        // The reader stops at the capacity: the third push waits for room.
        try await Task.sleep(for: .milliseconds(300))
        #expect(pushed.load(ordering: .sequentiallyConsistent) == 2)
        var taken: [Int] = []
        while let value = try await inbox.next() { taken.append(value) }
        #expect(taken == Array(1...10))
        try await reader.value
    }

    @Test("takeReady takes only what is queued and accepted, in order, without waiting")
    func takeReady() async throws {
        let inbox = ReadAhead<Int>(capacity: 8)
        #expect(inbox.takeReady(if: { _ in true }) == nil)
        for value in [2, 4, 5, 6] { try await inbox.push(value) }
        #expect(inbox.takeReady(if: { $0.isMultiple(of: 2) }) == 2)
        #expect(inbox.takeReady(if: { $0.isMultiple(of: 2) }) == 4)
        #expect(inbox.takeReady(if: { $0.isMultiple(of: 2) }) == nil)  // 5 is first and refused
        #expect(try await inbox.next() == 5)
        #expect(try await inbox.next() == 6)
    }

    @Test("an end with an error is thrown after everything queued before it was taken")
    func errorAfterDrain() async throws {
        let inbox = ReadAhead<Int>(capacity: 8)
        try await inbox.push(1)
        try await inbox.push(2)
        inbox.finish(throwing: Boom())
        #expect(try await inbox.next() == 1)
        #expect(try await inbox.next() == 2)
        await #expect(throws: Boom.self) { try await inbox.next() }
    }

    @Test("a consumer waiting for an element gets it from a later push; cancellation frees a waiting reader")
    func handOffAndCancel() async throws {
        let inbox = ReadAhead<Int>(capacity: 2)
        let consumer = Task { try await inbox.next() }
        try await Task.sleep(for: .milliseconds(100))
        try await inbox.push(7)
        #expect(try await consumer.value == 7)

        try await inbox.push(8)
        // The second queued element reaches the capacity: its push waits for room.
        let blocked = Task { try await inbox.push(9) }
        try await Task.sleep(for: .milliseconds(100))
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await blocked.value }
    }
}
