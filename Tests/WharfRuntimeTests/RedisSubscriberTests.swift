import NIOCore
import Testing
import WharfRuntime
import WharfTestSupport

@Suite("Redis pub/sub")
struct RedisSubscriberTests {
    @Test("a published message reaches two subscribers on different connections")
    func twoSubscribers() async throws {
        let server = try await TestRedis.shared()
        let channel = "test.two-subscribers.\(UInt32.random(in: 0...UInt32.max))"
        let publisher = RedisClient(configuration: server.configuration)
        let first = RedisSubscriber(configuration: server.configuration)
        let second = RedisSubscriber(configuration: server.configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.run() }
            group.addTask { try await second.run() }
            let firstMessages = first.messages(on: channel)
            let secondMessages = second.messages(on: channel)
            #expect(await eventually { first.isSubscribed(to: channel) && second.isSubscribed(to: channel) })
            let receivers = try await publisher.publish(ByteBuffer(string: "hello"), to: channel)
            #expect(receivers == 2)
            var firstIterator = firstMessages.makeAsyncIterator()
            var secondIterator = secondMessages.makeAsyncIterator()
            let a = await firstIterator.next()
            let b = await secondIterator.next()
            #expect(a.map { String(buffer: $0.payload) } == "hello")
            #expect(b.map { String(buffer: $0.payload) } == "hello")
            #expect(a?.channel == channel)
            first.stop()
            second.stop()
            group.cancelAll()
        }
        await publisher.shutdown()
    }

    @Test("after redis-server restarts, the subscriber reconnects and resubscribes by itself")
    func resubscribeAfterRestart() async throws {
        let server = try await TestRedis.start()
        let channel = "test.resubscribe"
        let publisher = RedisClient(configuration: server.configuration)
        let subscriber = RedisSubscriber(
            configuration: server.configuration, reconnectBackoff: .milliseconds(50)...(.milliseconds(500)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await subscriber.run() }
            let messages = subscriber.messages(on: channel)
            var iterator = messages.makeAsyncIterator()
            var resumptions = subscriber.resumptions().makeAsyncIterator()
            #expect(await eventually { subscriber.isSubscribed(to: channel) })
            #expect(try await publisher.publish(ByteBuffer(string: "before"), to: channel) == 1)
            #expect(await iterator.next().map { String(buffer: $0.payload) } == "before")

            await server.stopServer()
            try await server.startServer()
            // Listeners are told once the channel is subscribed again (the first connection is no resumption).
            #expect(await resumptions.next() != nil)
            #expect(subscriber.isSubscribed(to: channel))
            // Nothing is re-subscribed by the test: the subscriber must do it on its own.
            #expect(
                await eventually(timeout: .seconds(15)) {
                    (try? await publisher.publish(ByteBuffer(string: "after"), to: channel)) == 1
                })
            #expect(await iterator.next().map { String(buffer: $0.payload) } == "after")
            #expect(subscriber.connectionCount >= 2)
            subscriber.stop()
            group.cancelAll()
        }
        await publisher.shutdown()
        await server.stopServer()
    }

    @Test("typed events go through the event bus on wharf.<topic> and reach every subscriber")
    func eventBus() async throws {
        struct RecordPushed: WharfEvent, Equatable {
            static let topic = "test.record.pushed"
            var cid: String
        }
        let server = try await TestRedis.shared()
        let publisher = RedisClient(configuration: server.configuration)
        let subscriber = RedisSubscriber(configuration: server.configuration)
        let bus = EventBus(publisher: publisher, subscriber: subscriber)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await subscriber.run() }
            var first = bus.events(of: RecordPushed.self).makeAsyncIterator()
            var second = bus.events(of: RecordPushed.self).makeAsyncIterator()
            #expect(await eventually { subscriber.isSubscribed(to: "wharf.test.record.pushed") })
            // Something that is not the event's JSON is skipped, not delivered or crashed on.
            try await publisher.publish(ByteBuffer(string: "not json"), to: "wharf.test.record.pushed")
            let receivers = try await bus.publish(RecordPushed(cid: "bafkreia"))
            #expect(receivers == 1)  // one Redis connection carries both listeners
            #expect(await first.next() == RecordPushed(cid: "bafkreia"))
            #expect(await second.next() == RecordPushed(cid: "bafkreia"))
            subscriber.stop()
            group.cancelAll()
        }
        await publisher.shutdown()
    }

    @Test("two systems on one Redis with different channel prefixes never see each other's events")
    func channelPrefixes() async throws {
        struct RecordDeleted: WharfEvent, Equatable {
            static let topic = "test.record.deleted"
            var cid: String
        }
        let server = try await TestRedis.shared()
        let publisher = RedisClient(configuration: server.configuration)
        let subscriber = RedisSubscriber(configuration: server.configuration)
        let systemA = EventBus(publisher: publisher, subscriber: subscriber, channelPrefix: "system-a")
        let systemB = EventBus(publisher: publisher, subscriber: subscriber, channelPrefix: "system-b")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await subscriber.run() }
            var seenByA = systemA.events(of: RecordDeleted.self).makeAsyncIterator()
            var seenByB = systemB.events(of: RecordDeleted.self).makeAsyncIterator()
            #expect(
                await eventually {
                    subscriber.isSubscribed(to: "system-a.test.record.deleted") && subscriber.isSubscribed(to: "system-b.test.record.deleted")
                })
            // Each publish reaches its own system's listener only: one receiver, not two.
            let receiversOfA = try await systemA.publish(RecordDeleted(cid: "from-a"))
            let receiversOfB = try await systemB.publish(RecordDeleted(cid: "from-b"))
            #expect(receiversOfA == 1 && receiversOfB == 1)
            #expect(await seenByB.next() == RecordDeleted(cid: "from-b"))
            #expect(await seenByA.next() == RecordDeleted(cid: "from-a"))
            subscriber.stop()
            group.cancelAll()
        }
        await publisher.shutdown()
    }
}

@Suite("Redis subscriber lifecycle")
struct RedisSubscriberLifecycleTests {
    @Test("cancelling run() ends it promptly even while connected")
    func cancellation() async throws {
        let server = try await TestRedis.shared()
        let subscriber = RedisSubscriber(configuration: server.configuration)
        let running = Task { try await subscriber.run() }
        let messages = subscriber.messages(on: "test.cancel")
        #expect(await eventually { subscriber.isSubscribed(to: "test.cancel") })
        let clock = ContinuousClock()
        let start = clock.now
        running.cancel()
        _ = try? await running.value
        #expect(clock.now - start < .seconds(2))
        // Stopping ends the listeners' streams too.
        var iterator = messages.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }
}
