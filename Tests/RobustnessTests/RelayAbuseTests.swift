import Foundation
import NegentropyProtocol
import Testing
import WharfTestSupport

extension RobustnessSuites {
    /// The NIP-01/NIP-77 relay endpoint abused over real WebSockets: malformed JSON, oversized frames, unknown
    /// verbs, NEG-OPEN with bad hex, thousands of subscriptions and sessions on one connection, many connections.
    @Suite("Robustness: the Nostr relay", .serialized)
    struct RelayAbuseTests {
        static var initialMessage: String {
            let bytes = (try? Negentropy(storage: try SortedItems([])).initiate()) ?? [0x61]
            return bytes.map { String(format: "%02x", $0) }.joined()
        }

        @Test("malformed frames each get a NOTICE, CLOSED or NEG-ERR naming the problem, and the connection stays usable")
        func malformedFrames() async throws {
            let system = try await Robustness.system()
            let client = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
            defer { Task { await client.close() } }
            let frames: [String] = [
                "", "not json", "{}", "[]", "[1,2,3]", "\"EVENT\"", "[\"FROB\", 1]", "[\"EVENT\"]", "[\"EVENT\", 42]",
                "[\"EVENT\", {\"id\": \"zz\"}]", "[\"REQ\"]", "[\"REQ\", \"\"]", "[\"REQ\", \"s\", 5]", "[\"REQ\", \"s\", {\"kinds\": [\"x\"]}]",
                "[\"REQ\", \"s\", {\"limit\": 1e300}]", "[\"REQ\", \"s\", {\"since\": -1}]",
                "[\"REQ\", \"\(String(repeating: "x", count: 300))\", {}]",
                "[\"CLOSE\"]", "[\"NEG-OPEN\", \"n\", {}, \"zz\"]", "[\"NEG-OPEN\", \"n\", {}, \"abc\"]", "[\"NEG-OPEN\", \"n\", {}, \"\"]",
                "[\"NEG-OPEN\"]", "[\"NEG-OPEN\", \"n\", 5, \"61\"]", "[\"NEG-MSG\", \"unknown\", \"61\"]", "[\"NEG-MSG\", \"n\"]",
                "[\"NEG-CLOSE\"]", "[\"NEG-OPEN\", \"n2\", {}, \"\(Self.initialMessage)ff\"]",
                String(repeating: "[", count: 100_000),
                "[\"EVENT\", " + String(repeating: "{\"a\":", count: 5_000) + "1" + String(repeating: "}", count: 5_000) + "]",
            ]
            for frame in frames {
                client.sendRaw(frame)
                let answer = try await client.receive(timeout: .seconds(10))
                let verb = answer.first as? String
                #expect(["NOTICE", "CLOSED", "NEG-ERR", "OK", "EOSE", "NEG-MSG"].contains(verb ?? ""), "\(frame.prefix(60)): \(answer)")
                if verb == "NOTICE" || verb == "CLOSED" || verb == "NEG-ERR" {
                    #expect(((answer.last as? String) ?? "").isEmpty == false, "\(frame.prefix(60)): \(answer)")
                }
                if verb == "CLOSED" && frame.contains("REQ") {
                    continue
                }
                // A REQ that was accepted ends with EOSE after its events; drain to it.
                if verb == "EVENT" { _ = try await client.receive(until: "EOSE") }
            }
            // Still usable: a REQ is answered.
            try client.send(["REQ", "after", ["limit": 1]])
            #expect(try await client.receive(until: "EOSE").last?.first as? String == "EOSE")
            await Robustness.expectAllAlive(system, after: "malformed relay frames")
        }

        @Test("a frame over the relay's maximum message size closes that connection only")
        func oversizedFrame() async throws {
            let system = try await Robustness.system()
            let client = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
            client.sendRaw("[\"REQ\", \"big\", {\"search\": \"" + String(repeating: "x", count: 2 << 20) + "\"}]")
            // The relay closes the connection (the WebSocket rule for a message too big); it does not answer it.
            var closed = false
            for _ in 0..<3 {
                do { _ = try await client.receive(timeout: .seconds(10)) } catch { closed = true; break }
            }
            #expect(closed)
            await client.close()
            let other = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
            try other.send(["REQ", "fine", ["limit": 1]])
            #expect(try await other.receive(until: "EOSE").last?.first as? String == "EOSE")
            await other.close()
            await Robustness.expectAllAlive(system, after: "an oversized relay frame")
        }

        @Test("thousands of subscriptions and negentropy sessions on one connection are refused past the limits")
        func thousandsOfSubscriptionsAndSessions() async throws {
            let system = try await Robustness.system()
            let client = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
            var refusedSubscriptions = 0
            for index in 0..<2_000 {
                try client.send(["REQ", "sub-\(index)", ["kinds": [30_000 + index % 1000], "limit": 1]])
                let answer = try await client.receive(timeout: .seconds(10))
                if answer.first as? String == "CLOSED", (answer.last as? String)?.contains("at most") == true { refusedSubscriptions += 1 }
            }
            #expect(refusedSubscriptions == 2_000 - 20, "refused \(refusedSubscriptions)")
            var refusedSessions = 0
            for index in 0..<2_000 {
                try client.send(["NEG-OPEN", "neg-\(index)", ["kinds": [1]], Self.initialMessage])
                let answer = try await client.receive(timeout: .seconds(10))
                if answer.first as? String == "NEG-ERR", (answer.last as? String)?.hasPrefix("blocked:") == true { refusedSessions += 1 }
            }
            #expect(refusedSessions == 2_000 - 8, "refused \(refusedSessions)")
            await client.close()
            await Robustness.expectAllAlive(system, after: "thousands of subscriptions and sessions")
        }

        @Test("many connections from one address: those past the per-address limit are told why and closed")
        func manyConnections() async throws {
            let system = try await Robustness.system()
            var clients: [RelayTestClient] = []
            var refused = 0
            var served = 0
            for index in 0..<100 {
                let client = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
                clients.append(client)
                try client.send(["REQ", "c\(index)", ["limit": 1]])
                let answer = try? await client.receive(timeout: .seconds(20))
                switch answer?.first as? String {
                case "NOTICE" where (answer?.last as? String)?.contains("connections per client address") == true: refused += 1
                case "EOSE": served += 1
                case "EVENT": if (try? await client.receive(until: "EOSE", timeout: .seconds(20))) != nil { served += 1 }
                default: break
                }
            }
            // 64 per address; a connection an earlier test is still closing may hold a place for a moment.
            #expect(served + refused == 100, "served \(served), refused \(refused)")
            #expect((60...64).contains(served), "served \(served), refused \(refused)")
            for client in clients { await client.close() }
            // The places are given back: a new connection is served again.
            let later = await eventually(timeout: .seconds(10)) {
                let client = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
                defer { Task { await client.close() } }
                try? client.send(["REQ", "later", ["limit": 1]])
                // A stored event may come first (earlier groups store some); a refused connection gets a NOTICE.
                return (try? await client.receive(until: "EOSE", timeout: .seconds(5)))?.last?.first as? String == "EOSE"
            }
            #expect(later)
            await Robustness.expectAllAlive(system, after: "many relay connections")
        }
    }
}
