import Foundation
import NegentropyProtocol
import Testing
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

/// Clients that take the relay's memory, CPU or sockets if it lets them (issue 29): silent and slow readers,
/// oversized filters and tag sets, events from the far future, half-sent requests.
@Suite("The relay against hostile clients", .serialized)
struct RelayHostileClientTests {
    static func publish(_ events: [NostrEvent], to node: NegentropyNode) async throws {
        let publisher = RelayTestClient(url: node.relayURL)
        for event in events {
            try publisher.send(["EVENT", event.jsonObject])
            let ok = try await publisher.receive(timeout: .seconds(30))
            #expect(ok[0] as? String == "OK" && ok[2] as? Bool == true, "\(ok)")
        }
        await publisher.close()
    }

    static func bigEvents(_ count: Int, bytes: Int, kind: Int = 1) -> [NostrEvent] {
        (0..<count).map { index in
            TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64(index), kind: kind, content: String(repeating: "x", count: bytes) + "\(index)")
        }
    }

    @Test("a client that sends a REQ and never reads is dropped after the slow-reader timeout; a reader gets every event, then EOSE")
    func silentReaderIsDropped() async throws {
        try await withServices([.negentropy(environment: ["WHARF_RELAY_SLOW_READER_TIMEOUT": "1s"])]) { services in
            let node = await NegentropyNode(services)
            // More than the server's socket can buffer (Linux lets it grow to 4 MiB) is due.
            try await Self.publish(Self.bigEvents(60, bytes: 150_000), to: node)
            #expect(await eventually(timeout: .seconds(10)) { node.relay.connections.admittedConnections == 0 })

            let silent = try RawSocket(port: node.relayPort, receiveBuffer: 4096)
            try silent.upgradeToWebSocket()
            try silent.sendWebSocketText(#"["REQ","all",{"kinds":[1]}]"#)
            #expect(await eventually { node.relay.connections.admittedConnections == 1 })
            // Nine megabytes are due and the client reads none of it: the relay gives up on it.
            let dropped = await eventually(timeout: .seconds(60)) { node.relay.connections.admittedConnections == 0 }
            #expect(dropped, "a client that never reads still holds its connection")

            // Answered a page at a time, a reader still gets all 60 events, newest first, then EOSE.
            let reader = RelayTestClient(url: node.relayURL)
            try reader.send(["REQ", "all", ["kinds": [1]]])
            let frames = try await reader.receive(until: "EOSE", timeout: .seconds(60))
            let times = frames.dropLast().compactMap { ($0[2] as? [String: Any])?["created_at"] as? Int }
            #expect(times == (0..<60).reversed().map { 1_700_000_000 + $0 })
            await reader.close()
        }
    }

    @Test("a live subscriber that falls more than WHARF_RELAY_MAX_PENDING_OUTPUT behind is dropped; others get every event")
    func slowLiveReaderIsDropped() async throws {
        try await withServices([.negentropy(environment: ["WHARF_RELAY_MAX_PENDING_OUTPUT": "65536", "WHARF_RELAY_SLOW_READER_TIMEOUT": "10m"])]) {
            services in
            let node = await NegentropyNode(services)
            let silent = try RawSocket(port: node.relayPort, receiveBuffer: 4096)
            try silent.upgradeToWebSocket()
            try silent.sendWebSocketText(#"["REQ","live",{"kinds":[1]}]"#)
            let reader = RelayTestClient(url: node.relayURL)
            try reader.send(["REQ", "live", ["kinds": [1]]])
            #expect(try await reader.receive()[0] as? String == "EOSE")
            #expect(await eventually { node.relay.connections.admittedConnections == 2 })
            // More than the server's socket can buffer (Linux lets it grow to 4 MiB) and the queue's 64 KiB.
            let events = Self.bigEvents(60, bytes: 150_000)
            try await Self.publish(events, to: node)
            var received = 0
            for _ in events where try await reader.receive(timeout: .seconds(30))[0] as? String == "EVENT" { received += 1 }
            #expect(received == events.count)
            let dropped = await eventually(timeout: .seconds(30)) { node.relay.connections.admittedConnections == 1 }
            #expect(dropped, "a live subscriber that reads nothing is still connected")
            await reader.close()
        }
    }

    @Test("filters are bounded: values per filter, value length, and the parsed size a connection holds open")
    func filterBounds() async throws {
        try await withServices([.negentropy(environment: ["WHARF_RELAY_MAX_FILTER_BYTES": "1048576"])]) { services in
            let node = await NegentropyNode(services)
            let client = RelayTestClient(url: node.relayURL)
            func author(_ index: Int) -> String { String(format: "%064x", index) }
            try client.send(["REQ", "wide", ["authors": (0..<1_001).map(author)]])
            var answer = try await client.receive()
            #expect(answer[0] as? String == "CLOSED" && (answer[2] as? String)?.hasPrefix("blocked:") == true, "\(answer)")
            try client.send(["REQ", "tags", ["#t": (0..<600).map { "t\($0)" }, "#p": (0..<401).map(author)]])
            answer = try await client.receive()
            #expect(answer[0] as? String == "CLOSED" && (answer[2] as? String)?.contains("1001 values") == true, "\(answer)")
            try client.send(["REQ", "long", ["#r": [String(repeating: "r", count: 1_025)]]])
            answer = try await client.receive()
            #expect(answer[0] as? String == "CLOSED" && (answer[2] as? String)?.hasPrefix("blocked:") == true, "\(answer)")
            try client.send(["REQ", "nul", ["#t": ["a\u{0}b"]]])
            answer = try await client.receive()
            #expect(answer[0] as? String == "CLOSED" && (answer[2] as? String)?.contains("NUL") == true, "\(answer)")
            try client.send(["NEG-OPEN", "neg", ["ids": (0..<1_001).map(author)], "61"])
            answer = try await client.receive()
            #expect(answer[0] as? String == "NEG-ERR" && (answer[2] as? String)?.hasPrefix("blocked:") == true, "\(answer)")

            // 1,000 authors pass; the parsed size of the open ones is charged until the connection's budget is spent.
            var opened: [String] = []
            var refusal = ""
            for index in 0..<20 {
                try client.send(["REQ", "s\(index)", ["authors": (0..<1_000).map { author(index * 1_000 + $0) }]])
                let reply = try await client.receive()
                if reply[0] as? String == "EOSE" { opened.append("s\(index)"); continue }
                refusal = reply[2] as? String ?? ""
                break
            }
            #expect(!opened.isEmpty && opened.count < 20, "opened \(opened.count)")
            #expect(refusal.hasPrefix("blocked: this connection's open filters"), "\(refusal)")
            // Closing subscriptions gives their share back.
            for subscription in opened { try client.send(["CLOSE", subscription]) }
            try client.send(["REQ", "again", ["authors": (0..<1_000).map(author)]])
            #expect(try await client.receive()[0] as? String == "EOSE")
            await client.close()
        }
    }

    @Test("events are bounded: tags per event, created_at in the future, d tags PostgreSQL cannot index; NUL in a tag value is stored")
    func eventBounds() async throws {
        try await withServices([.negentropy(environment: ["WHARF_RELAY_MAX_EVENT_TAGS": "100"])]) { services in
            let node = await NegentropyNode(services)
            let client = RelayTestClient(url: node.relayURL)
            let now = EventRules.now
            func verdict(_ event: NostrEvent) async throws -> (Bool, String) {
                try client.send(["EVENT", event.jsonObject])
                let ok = try await client.receive()
                return (ok[2] as? Bool ?? false, ok[3] as? String ?? "")
            }
            let tooManyTags = TestKeys.alice.sign(createdAt: now, kind: 1, tags: (0..<101).map { ["t", "v\($0)"] }, content: "tags")
            var (accepted, message) = try await verdict(tooManyTags)
            #expect(!accepted && message.hasPrefix("invalid:") && message.contains("at most 100"), "\(message)")
            // 901 s would be the boundary; 1,000 leaves a loaded machine 99 s between reading the clock and the relay reading it.
            for future in [now + 1_000, Int64.max, Int64.max - 1] {
                (accepted, message) = try await verdict(TestKeys.alice.sign(createdAt: future, kind: 1, content: "future"))
                #expect(!accepted && message.contains("in the future"), "\(future): \(message)")
            }
            let soon = TestKeys.alice.sign(createdAt: now + 60, kind: 1, content: "soon")
            (accepted, _) = try await verdict(soon)
            #expect(accepted)
            (accepted, message) = try await verdict(TestKeys.alice.sign(createdAt: now, kind: 30_000, tags: [["d", "a\u{0}b"]], content: "nul d"))
            #expect(!accepted && message.contains("NUL"), "\(message)")
            (accepted, message) = try await verdict(
                TestKeys.alice.sign(createdAt: now, kind: 30_000, tags: [["d", String(repeating: "d", count: 1_025)]], content: "long d"))
            #expect(!accepted && message.contains("d tag"), "\(message)")
            // A NUL or a long value in another tag: stored (the JSON keeps it), just not searchable by #x.
            let odd = TestKeys.alice.sign(
                createdAt: now, kind: 1, tags: [["t", "a\u{0}b"], ["r", String(repeating: "r", count: 3_000)], ["t", "plain"]], content: "odd")
            (accepted, message) = try await verdict(odd)
            #expect(accepted, "\(message)")
            try client.send(["REQ", "plain", ["#t": ["plain"]]])
            let found = try await client.receive(until: "EOSE")
            #expect(found.count == 2 && (found[0][2] as? [String: Any])?["id"] as? String == odd.id)
            // The newest event a limited REQ sees is the soon one, not anything from the far future.
            try client.send(["REQ", "newest", ["limit": 1]])
            let newest = try await client.receive(until: "EOSE")
            #expect((newest[0][2] as? [String: Any])?["id"] as? String == soon.id)
            await client.close()
        }
    }

    @Test("sockets that never become WebSockets are counted from their accept and closed after WHARF_HTTP_IDLE_TIMEOUT")
    func halfSentRequests() async throws {
        try await withServices([.negentropy(environment: ["WHARF_HTTP_IDLE_TIMEOUT": "1s", "WHARF_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "4"])]) {
            services in
            let node = await NegentropyNode(services)
            let sockets = try (0..<10).map { _ in try RawSocket(port: node.relayPort) }
            for socket in sockets { try socket.send("GET / HTTP/1.1\r\nHost: relay\r\n") }
            #expect(await eventually { node.relay.connections.openConnections == 10 })
            #expect(node.relay.connections.admittedConnections == 4, "half-open sockets are counted against the per-address limit")
            for (index, socket) in sockets.enumerated() {
                let closed = await socket.closedByPeer(within: .seconds(20))
                #expect(closed, "half-sent request \(index) still open")
            }
            #expect(await eventually { node.relay.connections.openConnections == 0 })
            // The places came back: a WebSocket client is served.
            let client = RelayTestClient(url: node.relayURL)
            try client.send(["REQ", "after", ["limit": 1]])
            #expect(try await client.receive(until: "EOSE").last?.first as? String == "EOSE")
            await client.close()
        }
    }

    @Test("behind a trusted proxy the per-address limit counts the forwarded client address; an untrusted header changes nothing")
    func trustedProxy() async throws {
        let environment = ["WHARF_RELAY_TRUSTED_PROXIES": "127.0.0.1", "WHARF_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "2"]
        try await withServices([.negentropy(environment: environment)]) { services in
            let node = await NegentropyNode(services)
            func connect(from client: String) async throws -> (RawSocket, String) {
                let socket = try RawSocket(port: node.relayPort)
                try socket.upgradeToWebSocket(headers: ["X-Forwarded-For: 192.0.2.1, \(client)"])
                try socket.sendWebSocketText(#"["REQ","q",{"limit":1}]"#)
                return (socket, await socket.receivedText(untilOneOf: ["EOSE", "connections per client address"], within: .seconds(10)))
            }
            var sockets: [RawSocket] = []
            for _ in 0..<2 {
                let (socket, answer) = try await connect(from: "203.0.113.5")
                #expect(answer.contains("EOSE"), "\(answer)")
                sockets.append(socket)
            }
            let (_, third) = try await connect(from: "203.0.113.5")
            #expect(third.contains("connections per client address"), "\(third)")
            // Another client behind the same proxy is served: the proxy's own address is not what is limited.
            let (other, answer) = try await connect(from: "198.51.100.7")
            #expect(answer.contains("EOSE"), "\(answer)")
            sockets.append(other)
            #expect(node.relay.connections.admittedConnections >= 3)
        }
        // Without the setting, the header is not believed: all connections come from 127.0.0.1.
        try await withServices([.negentropy(environment: ["WHARF_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "2"])]) { services in
            let node = await NegentropyNode(services)
            var answers: [String] = []
            var sockets: [RawSocket] = []
            for index in 0..<3 {
                let socket = try RawSocket(port: node.relayPort)
                try socket.upgradeToWebSocket(headers: ["X-Forwarded-For: 198.51.100.\(index)"])
                try socket.sendWebSocketText(#"["REQ","q",{"limit":1}]"#)
                answers.append(await socket.receivedText(untilOneOf: ["EOSE", "connections per client address"], within: .seconds(10)))
                sockets.append(socket)
            }
            #expect(answers[2].contains("connections per client address"), "\(answers)")
        }
    }
}

@Suite("Pages of a REQ's answer")
struct EventPagesTests {
    @Test("paging by 3 keys and small pages gives what one query gave: newest first, ties lowest id first, the limit kept")
    func pagesMatchOneQuery() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let events = (0..<25).map { index in
                TestKeys.bob.sign(
                    createdAt: 1_700_000_000 + Int64(index / 4), kind: 1, tags: [["t", index % 2 == 0 ? "even" : "odd"]], content: "e\(index)")
            }
            try await RelayHostileClientTests.publish(events, to: node)
            let store = EventStore(client: node.host.postgres, logger: node.host.logger)
            for filter in [NostrFilter(kinds: [1]), NostrFilter(tags: ["t": ["even"]]), NostrFilter(kinds: [1], limit: 7), NostrFilter(kinds: [2])] {
                let whole = try await store.query([filter], maximumPerFilter: 5000).map(\.id)
                var pages = EventPages(store: store, filter: filter, limit: filter.limit ?? 5000, pageBytes: 600, keysPerQuery: 3)
                var paged: [Data] = []
                var pageCount = 0
                while let page = try await pages.next() {
                    paged += page.map(\.id)
                    pageCount += 1
                }
                #expect(paged == whole, "\(filter)")
                #expect(whole.isEmpty || pageCount > 1)
            }
        }
    }
}
