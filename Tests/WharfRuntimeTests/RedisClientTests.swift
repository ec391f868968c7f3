import NIOCore
import Testing
import WharfRuntime
import WharfTestSupport

@Suite("Redis client (hiredis codec over NIO)")
struct RedisClientTests {
    @Test("many concurrent callers pipeline on one connection and each gets its own reply")
    func pipelining() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.configuration)
        defer { Task { await client.shutdown() } }
        let prefix = "pipeline-\(UInt32.random(in: 0...UInt32.max))"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<2000 {
                group.addTask {
                    try await client.send(["SET", "\(prefix):\(index)", "value-\(index)"])
                    let reply = try await client.send(["GET", "\(prefix):\(index)"])
                    #expect(reply.string == "value-\(index)")
                }
            }
            try await group.waitForAll()
        }
        let count = try await client.send(["INCRBY", "\(prefix):counter", "5"])
        #expect(count.integer == 5)
    }

    @Test("binary values round-trip byte for byte, including CRLF and NUL")
    func binarySafe() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.configuration)
        defer { Task { await client.shutdown() } }
        let bytes: [UInt8] = [0, 13, 10, 255, 36, 42, 13, 10, 0] + Array(repeating: 7, count: 70_000)
        try await client.send(buffers: [ByteBuffer(string: "SET"), ByteBuffer(string: "binary-key"), ByteBuffer(bytes: bytes)])
        let reply = try await client.send(["GET", "binary-key"])
        guard case .bulkString(let buffer) = reply else {
            Issue.record("expected a bulk string, got \(reply)")
            return
        }
        #expect(Array(buffer.readableBytesView) == bytes)
        #expect(try await client.send(["GET", "missing-key-\(UInt64.random(in: 0...UInt64.max))"]) == .null)
    }

    @Test("an error reply throws RedisError.server with Redis's message")
    func errorReply() async throws {
        let server = try await TestRedis.shared()
        let client = RedisClient(configuration: server.configuration)
        defer { Task { await client.shutdown() } }
        try await client.send(["SET", "not-a-list", "x"])
        await #expect {
            try await client.send(["LPUSH", "not-a-list", "y"])
        } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return message.hasPrefix("WRONGTYPE")
        }
        // The connection stays usable after an error reply.
        #expect(await client.ping())
    }

    @Test("an unreachable server fails the command with notConnected instead of hanging")
    func unreachable() async throws {
        let client = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: try freePort()))
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        #expect(await client.ping() == false)
    }

    @Test("the client reconnects by itself after redis-server restarts")
    func reconnectAfterRestart() async throws {
        let server = try await TestRedis.start()
        let client = RedisClient(configuration: server.configuration)
        defer {
            Task {
                await client.shutdown(); await server.stopServer()
            }
        }
        #expect(await client.ping())
        await server.stopServer()
        #expect(await client.ping() == false)
        try await server.startServer()
        #expect(await eventually { await client.ping() })
    }

    @Test("a Redis that stops answering fails commands after the command timeout; the client recovers when it answers again")
    func commandTimeout() async throws {
        let server = try await TestRedis.start()
        var configuration = server.configuration
        configuration.commandTimeout = .milliseconds(500)
        let client = RedisClient(configuration: configuration)
        defer {
            Task {
                await client.shutdown(); server.resume(); await server.stopServer()
            }
        }
        #expect(await client.ping())
        server.suspend()
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: RedisError.timedOut(.milliseconds(500))) {
            try await client.publish(ByteBuffer(string: "hint"), to: "test.timeout")
        }
        #expect(clock.now - started < .seconds(3))
        // A command on a new connection to the still-stopped server also gives up in time.
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        server.resume()
        #expect(await eventually { await client.ping() })
    }
}
