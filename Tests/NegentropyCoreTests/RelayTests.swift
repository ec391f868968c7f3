import Foundation
import NegentropyProtocol
import Testing
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

@Suite("The Nostr relay endpoint: NIP-01 and NIP-77 over a real WebSocket")
struct RelayTests {
    @Test("publish signed events: OK true, duplicates accepted, a bad signature refused with a reason; REQ answers from the store")
    func publishAndQuery() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let client = RelayTestClient(url: node.relayURL)
            let first = TestKeys.alice.sign(createdAt: 1_700_000_000, kind: 1, tags: [["t", "wharf"]], content: "first")
            let second = TestKeys.bob.sign(createdAt: 1_700_000_005, kind: 1, tags: [["e", first.id]], content: "reply")
            for event in [first, second] {
                try client.send(["EVENT", event.jsonObject])
                let ok = try await client.receive()
                #expect(ok[0] as? String == "OK" && ok[1] as? String == event.id && ok[2] as? Bool == true, "\(ok)")
            }
            try client.send(["EVENT", first.jsonObject])
            let duplicate = try await client.receive()
            #expect(duplicate[2] as? Bool == true)
            #expect((duplicate[3] as? String)?.hasPrefix("duplicate:") == true)

            var forged = TestKeys.alice.sign(createdAt: 1_700_000_010, kind: 1, content: "forged")
            forged.sig = TestKeys.alice.sign(createdAt: 1_700_000_011, kind: 1, content: "other").sig
            try client.send(["EVENT", forged.jsonObject])
            let refused = try await client.receive()
            #expect(refused[0] as? String == "OK" && refused[1] as? String == forged.id && refused[2] as? Bool == false)
            #expect(refused[3] as? String == "invalid: bad signature")

            var tampered = first
            tampered.content = "changed"
            try client.send(["EVENT", tampered.jsonObject])
            #expect(try await client.receive()[3] as? String == "invalid: event id does not match the event's content")

            // Filters: by tag, by author, by time; newest first; then EOSE.
            try client.send(["REQ", "tagged", ["#e": [first.id]]])
            let tagged = try await client.receive(until: "EOSE")
            #expect(tagged.count == 2 && (tagged[0][2] as? [String: Any])?["id"] as? String == second.id)
            try client.send(["REQ", "all", ["kinds": [1]], ["authors": [TestKeys.alice.publicKeyHex]]])
            let all = try await client.receive(until: "EOSE")
            #expect(all.dropLast().compactMap { ($0[2] as? [String: Any])?["id"] as? String } == [second.id, first.id])
            try client.send(["REQ", "window", ["since": 1_700_000_001, "until": 1_700_000_009]])
            let window = try await client.receive(until: "EOSE")
            #expect(window.count == 2 && (window[0][2] as? [String: Any])?["content"] as? String == "reply")

            // The stored JSON is the event as published: it parses back to an event that still verifies.
            let echoed = try JSONDecoder().decode(
                NostrEvent.self, from: JSONSerialization.data(withJSONObject: try #require(all[0][2] as? [String: Any])))
            #expect(echoed == second)
            #expect(throws: Never.self) { try echoed.validate() }

            for subscription in ["tagged", "all", "window"] { try client.send(["CLOSE", subscription]) }

            // A live subscription receives an event published on another connection.
            try client.send(["REQ", "live", ["authors": [TestKeys.bob.publicKeyHex], "since": 1_700_000_100]])
            #expect(try await client.receive()[0] as? String == "EOSE")
            let publisher = RelayTestClient(url: node.relayURL)
            let later = TestKeys.bob.sign(createdAt: 1_700_000_200, kind: 1, content: "live")
            try publisher.send(["EVENT", later.jsonObject])
            #expect(try await publisher.receive()[2] as? Bool == true)
            let pushed = try await client.receive()
            #expect(pushed[0] as? String == "EVENT" && pushed[1] as? String == "live" && (pushed[2] as? [String: Any])?["id"] as? String == later.id)
            #expect(try await node.host.postgresCount() == 3)

            // Malformed input gets a NOTICE, and the connection keeps working.
            client.sendRaw("not json")
            #expect(try await client.receive()[0] as? String == "NOTICE")
            try client.send(["REQ", "bad", ["kinds": ["one"]]])
            let closed = try await client.receive()
            #expect(closed[0] as? String == "CLOSED" && (closed[2] as? String)?.hasPrefix("invalid:") == true)
            await publisher.close()
            await client.close()
        }
    }

    @Test("NEG-OPEN / NEG-MSG reconcile a client's set with the relay's: exactly the differences")
    func reconcileOverWebSocket() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let client = RelayTestClient(url: node.relayURL)
            // 300 events on the relay; the client holds 250 of them and 40 of its own.
            let relayEvents = (0..<300).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0 / 3), kind: 1, content: "note \($0)") }
            for event in relayEvents {
                try client.send(["EVENT", event.jsonObject])
                #expect(try await client.receive()[2] as? Bool == true)
            }
            let clientOnly = (0..<40).map { TestKeys.bob.sign(createdAt: 1_700_000_050 + Int64($0), kind: 1, content: "mine \($0)") }
            let held = Array(relayEvents.prefix(250)) + clientOnly
            let negentropy = try Negentropy(storage: try SortedItems(held.compactMap(\.negentropyItem)), frameSizeLimit: 4096)
            try client.send(["NEG-OPEN", "neg", ["kinds": [1]], negentropy.initiate().hexString])
            var have = Set<EventID>(), need = Set<EventID>()
            var rounds = 0
            while true {
                let frame = try await client.receive()
                try #require(frame[0] as? String == "NEG-MSG", "\(frame)")
                rounds += 1
                let hex = try #require(frame[2] as? String)
                let message = try #require(Data(hexString: hex))
                let step = try negentropy.reconcileAsInitiator(Array(message))
                have.formUnion(step.have)
                need.formUnion(step.need)
                guard let next = step.next else { break }
                try client.send(["NEG-MSG", "neg", next.hexString])
            }
            try client.send(["NEG-CLOSE", "neg"])
            #expect(have == Set(clientOnly.compactMap(\.eventID)))
            #expect(need == Set(relayEvents.suffix(50).compactMap(\.eventID)))
            #expect(rounds > 1)

            // After NEG-CLOSE the session is gone.
            try client.send(["NEG-MSG", "neg", "61"])
            let error = try await client.receive()
            #expect(error[0] as? String == "NEG-ERR" && (error[2] as? String)?.hasPrefix("closed:") == true)
            await client.close()
        }
    }

    @Test("limits: an over-size set gets NEG-ERR blocked with the maximum, extra sessions are refused, bad payloads get NEG-ERR")
    func limits() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_MAX_SET_SIZE": "3", "WHARF_RELAY_MAX_NEG_SESSIONS": "2"])]) { services in
            let node = await NegentropyNode(services)
            let client = RelayTestClient(url: node.relayURL)
            for index in 0..<5 {
                try client.send(["EVENT", TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64(index), kind: 1, content: "\(index)").jsonObject])
                _ = try await client.receive()
            }
            let empty = try Negentropy(storage: try SortedItems([])).initiate().hexString
            try client.send(["NEG-OPEN", "big", [String: Any](), empty])
            let blocked = try await client.receive()
            #expect(blocked[0] as? String == "NEG-ERR" && blocked[1] as? String == "big")
            #expect(blocked[2] as? String == "blocked: too many query results")
            #expect(blocked[3] as? Int == 3)

            // Within the limit (a filter with limit 3) works; a third concurrent session is refused.
            try client.send(["NEG-OPEN", "a", ["limit": 3], empty])
            #expect(try await client.receive()[0] as? String == "NEG-MSG")
            try client.send(["NEG-OPEN", "b", ["limit": 2], empty])
            #expect(try await client.receive()[0] as? String == "NEG-MSG")
            try client.send(["NEG-OPEN", "c", ["limit": 1], empty])
            let refused = try await client.receive()
            #expect(refused[0] as? String == "NEG-ERR" && (refused[2] as? String)?.hasPrefix("blocked:") == true)

            try client.send(["NEG-MSG", "a", "zz"])
            #expect(try await client.receive()[0] as? String == "NEG-ERR")
            try client.send(["NEG-OPEN", "d", ["limit": 1], "6100000205"])
            let malformed = try await client.receive()
            // Session "a" was closed by its NEG-ERR, so "d" fits; its message is truncated.
            #expect(malformed[0] as? String == "NEG-ERR")
            #expect(malformed[2] as? String == "error: reconcile failed: parse ends prematurely")
            await client.close()
        }
    }

    @Test("a message over WHARF_RELAY_MAX_MESSAGE_SIZE closes that connection; others go on")
    func messageSize() async throws {
        try await withServices([.negentropy(environment: ["WHARF_RELAY_MAX_MESSAGE_SIZE": "4096"])]) { services in
            let node = await NegentropyNode(services)
            let client = RelayTestClient(url: node.relayURL)
            let large = TestKeys.alice.sign(createdAt: 1_700_000_000, kind: 1, content: String(repeating: "x", count: 8000))
            try client.send(["EVENT", large.jsonObject])
            await #expect(throws: (any Error).self) { try await client.receive(timeout: .seconds(5)) }
            let other = RelayTestClient(url: node.relayURL)
            let small = TestKeys.alice.sign(createdAt: 1_700_000_001, kind: 1, content: "small")
            try other.send(["EVENT", small.jsonObject])
            #expect(try await other.receive()[2] as? Bool == true)
            #expect(try await node.host.postgresCount() == 1)
            await other.close()
            await client.close()
        }
    }
}

extension WharfServiceHost {
    func postgresCount() async throws -> Int {
        try await EventStore(client: postgres, logger: logger).count()
    }
}

#if canImport(FoundationNetworking)
    import FoundationNetworking
    import WharfEncoding
#endif

@Suite("The relay's NIP-11 information document")
struct RelayInformationTests {
    @Test("GET / with Accept: application/nostr+json lists NIPs 1, 11 and 77 and the limits")
    func information() async throws {
        let environment = ["WHARF_RELAY_MAX_SUBSCRIPTIONS": "7", "WHARF_RELAY_MAX_EVENT_TAGS": "300", "WHARF_RELAY_MAX_FUTURE": "10m"]
        try await withServices([.negentropy(environment: environment)]) { services in
            let node = await NegentropyNode(services)
            var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(node.relayPort)/")))
            request.setValue("application/nostr+json", forHTTPHeaderField: "Accept")
            let (data, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type") == "application/nostr+json")
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(document["supported_nips"] as? [Int] == [1, 11, 77])
            let limitation = document["limitation"] as? [String: Any]
            #expect(limitation?["max_subscriptions"] as? Int == 7)
            #expect(limitation?["max_event_tags"] as? Int == 300)
            #expect(limitation?["created_at_upper_limit"] as? Int == 600)
        }
    }
}
