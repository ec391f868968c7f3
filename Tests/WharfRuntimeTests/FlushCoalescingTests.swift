import NIOCore
import NIOEmbedded
import Testing
import WharfRuntime

@Suite("Flush coalescing near the socket (gateway connections, relay and HTTP listeners)")
struct FlushCoalescingTests {
    func written(_ channel: EmbeddedChannel) throws -> [String] {
        var found: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { found.append(String(buffer: buffer)) }
        return found
    }

    @Test("the flushes of one event-loop tick reach the socket once, after the tick; a close flushes first")
    func coalesces() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescingHandler())
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        for text in ["a", "b", "c"] {
            channel.write(ByteBuffer(string: text), promise: nil)
            channel.flush()
        }
        #expect(try written(channel) == [], "nothing leaves before the tick's deferred flush")
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == ["a", "b", "c"])

        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [], "one deferred flush per tick, none left over")

        channel.write(ByteBuffer(string: "goaway"), promise: nil)
        channel.flush()
        let closed = channel.close()
        #expect(try written(channel) == ["goaway"], "a close sends what was flushed before it")
        channel.embeddedEventLoop.run()
        try closed.wait()
    }
}
