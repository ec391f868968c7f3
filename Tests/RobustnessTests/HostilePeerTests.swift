import Foundation
import GRPCCore
import NegentropyCore
import Synchronization
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Issue 29's classes against the running system: readers that never read, filters and tag sets that
    /// would cost the database or the matcher more than their bytes, headers that would break pooled
    /// connections, and sockets that send nothing, on every listener.
    @Suite("Robustness: silent readers, oversized filters, header floods, idle sockets", .serialized)
    struct HostilePeerTests {
        static let signer = NostrSigner(secretKey: [UInt8](repeating: 0, count: 31) + [29])!

        /// Publishes events over one connection, each acknowledged.
        static func publish(_ events: [NostrEvent], relayPort: Int) async throws {
            let publisher = RelayTestClient(url: "ws://127.0.0.1:\(relayPort)")
            for event in events {
                try publisher.send(["EVENT", (try JSONSerialization.jsonObject(with: Data(event.json))) as? [String: Any] ?? [:]])
                let ok = try await publisher.receive(timeout: .seconds(30))
                #expect(ok[2] as? Bool == true, "\(ok)")
            }
            await publisher.close()
        }

        static func relayConnections(_ system: WharfSystem) async -> Int? {
            guard let port = system.component("negentropy").metricsPort else { return nil }
            return try? await slotsInUse(port, "relay_connections")
        }

        @Test("64 silent readers each holding a REQ for 8 MB of events: the relay stays under its memory ceiling, drops each, and serves others")
        func silentReaders() async throws {
            let system = try await Robustness.system()
            let events = (0..<40).map { index in
                Self.signer.sign(
                    createdAt: 1_700_100_000 + Int64(index), kind: 1, tags: [["t", "robustness-silent"]],
                    content: String(repeating: "s", count: 200_000) + "\(index)")
            }
            try await Self.publish(events, relayPort: system.relayPort)
            let baseline = await Self.relayConnections(system) ?? 0
            var sockets: [RawSocket] = []
            for _ in 0..<64 {
                let socket = try RawSocket(port: system.relayPort, receiveBuffer: 4096)
                try socket.upgradeToWebSocket()
                try socket.sendWebSocketText(##"["REQ","big",{"#t":["robustness-silent"]}]"##)
                sockets.append(socket)
            }
            // Sampled while they hold their REQs, until the relay has dropped every one.
            var peak = 0
            let dropped = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                peak = max(peak, system.residentBytes("negentropy") ?? 0)
                return (await Self.relayConnections(system) ?? .max) <= baseline
            }
            let ceiling = (MemoryCeilingTests.ceilings["negentropy"] ?? 768) << 20
            print("relay resident memory with 64 silent readers holding 8 MB REQs: peak \(peak >> 20) MiB (ceiling \(ceiling >> 20) MiB)")
            #expect(peak > 0 && peak < ceiling, "relay resident memory peaked at \(peak >> 20) MiB; ceiling \(ceiling >> 20) MiB")
            let remaining = await Self.relayConnections(system) ?? -1
            #expect(dropped, "silent readers still connected: \(remaining), baseline \(baseline)")
            let reader = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
            try reader.send(["REQ", "big", ["#t": ["robustness-silent"], "limit": 5]])
            let answer = try await reader.receive(until: "EOSE", timeout: .seconds(30))
            #expect(answer.count == 6)
            await reader.close()
            sockets.removeAll()
            await Robustness.expectAllAlive(system, after: "silent readers")
        }

        @Test("oversized filters are refused, bounded ones answered, and EVENTs keep being acknowledged meanwhile; tag floods are refused")
        func oversizedFiltersAndTags() async throws {
            let system = try await Robustness.system()
            let url = "ws://127.0.0.1:\(system.relayPort)"
            let attackers = (0..<20).map { _ in RelayTestClient(url: url) }
            // 20,000 short tag values in one filter (the 1.3 MiB REQ that kept a backend busy for minutes).
            let flood = (0..<20_000).map { "v\($0)" }
            for client in attackers { try client.send(["REQ", "flood", ["#t": flood]]) }
            for client in attackers {
                let answer = try await client.receive(timeout: .seconds(20))
                #expect(answer[0] as? String == "CLOSED" && (answer[2] as? String)?.hasPrefix("blocked:") == true, "\(answer)")
            }
            // The bound itself: 1,000 values of 1,000 bytes each, answered from the index.
            let wide = (0..<1_000).map { String(repeating: "w", count: 990) + String(format: "%010d", $0) }
            for client in attackers { try client.send(["REQ", "wide", ["#t": wide]]) }
            // Meanwhile another client's EVENTs are acknowledged.
            let publisher = RelayTestClient(url: url)
            for index in 0..<5 {
                let event = Self.signer.sign(
                    createdAt: Int64(Date().timeIntervalSince1970), kind: 1, tags: [["t", "during-flood"]], content: "during \(index) \(UUID())")
                try publisher.send(["EVENT", (try JSONSerialization.jsonObject(with: Data(event.json))) as? [String: Any] ?? [:]])
                let ok = try await publisher.receive(timeout: .seconds(10))
                #expect(ok[0] as? String == "OK" && ok[2] as? Bool == true, "\(ok)")
            }
            for client in attackers {
                let frames = try await client.receive(until: "EOSE", timeout: .seconds(30))
                #expect(frames.last?.first as? String == "EOSE")
            }
            // Tag floods on events: 2,001 tags is refused; a 60,000-tag event (well under 1 MiB) too.
            for count in [2_001, 60_000] {
                let event = Self.signer.sign(
                    createdAt: Int64(Date().timeIntervalSince1970), kind: 1, tags: (0..<count).map { ["t", "\($0)"] }, content: "tags")
                try publisher.send(["EVENT", (try JSONSerialization.jsonObject(with: Data(event.json))) as? [String: Any] ?? [:]])
                let ok = try await publisher.receive(timeout: .seconds(20))
                #expect(ok[2] as? Bool == false && (ok[3] as? String)?.hasPrefix("invalid:") == true, "\(count) tags: \(ok)")
            }
            // Far-future events are refused.
            let future = Self.signer.sign(createdAt: Int64.max, kind: 1, content: "future")
            try publisher.send(["EVENT", (try JSONSerialization.jsonObject(with: Data(future.json))) as? [String: Any] ?? [:]])
            #expect(try await publisher.receive(timeout: .seconds(10))[2] as? Bool == false)
            for client in attackers { await client.close() }
            await publisher.close()
            await Robustness.expectAllAlive(system, after: "oversized filters and tag sets")
        }

        @Test("header floods through the gateway: every oversized call gets RESOURCE_EXHAUSTED, every other client's call succeeds")
        func headerFloods() async throws {
            let system = try await Robustness.system()
            let gateway = system.port("gateway")
            let failures = FailureLog()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = try? await withRawClient(port: gateway) { client in
                        for index in 0..<60 {
                            // "e" is 5 bits in HPACK's Huffman code: 25 KB decoded fits one HEADERS frame.
                            let metadata: Metadata = ["x-flood": .string(String(repeating: "e", count: 17_000 + index * 100))]
                            let outcome = await rawCall(
                                client, method: "/tvix.castore.v1.BlobService/Stat",
                                messages: [RobustnessTable.bytes(Tvix_Castore_V1_StatBlobRequest.with { $0.digest = Data(repeating: 1, count: 32) })],
                                timeout: .seconds(10), metadata: metadata)
                            if outcome.code != .resourceExhausted { failures.record("oversized headers: \(outcome)") }
                        }
                    }
                }
                for worker in 0..<6 {
                    group.addTask {
                        _ = try? await withRawClient(port: gateway) { client in
                            for index in 0..<30 {
                                let outcome = await rawCall(
                                    client, method: "/tvix.castore.v1.BlobService/Put",
                                    messages: [
                                        RobustnessTable.bytes(Tvix_Castore_V1_BlobChunk.with { $0.data = Data("worker \(worker) \(index)".utf8) })
                                    ],
                                    timeout: .seconds(20), metadata: [:])
                                if outcome.code != nil { failures.record("worker \(worker) Put \(index): \(outcome)") }
                            }
                        }
                    }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.prefix(10).joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "header floods")
        }

        @Test("a socket that sends nothing, or half a request, is closed on every listener")
        func idleSocketsOnEveryListener() async throws {
            let system = try await Robustness.system()
            var listeners: [(String, Int, String)] = [
                ("relay", system.relayPort, "GET / HTTP/1.1\r\nHost: relay\r\n"),
                ("OCI registry", system.registryPort, "GET /v2/ HTTP/1.1\r\nHost: r\r\n"),
            ]
            for component in system.components {
                listeners.append(("\(component.name) gRPC", component.grpcPort, "PRI * HTTP/2.0\r\n"))
                if let metrics = component.metricsPort { listeners.append(("\(component.name) metrics", metrics, "GET /metrics HTTP/1.1\r\n")) }
            }
            let failures = FailureLog()
            await Robustness.forEach(listeners, width: 16) { name, port, half in
                do {
                    let silent = try RawSocket(port: port)
                    let halfSent = try RawSocket(port: port)
                    try halfSent.send(half)
                    if !(await silent.closedByPeer(within: .seconds(30))) { failures.record("\(name) (\(port)): a silent socket stays open") }
                    if !(await halfSent.closedByPeer(within: .seconds(30))) { failures.record("\(name) (\(port)): half a request stays open") }
                } catch {
                    failures.record("\(name) (\(port)): \(error)")
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "idle sockets")
        }
    }
}
