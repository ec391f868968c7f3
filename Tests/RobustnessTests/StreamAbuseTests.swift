import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Streams used as a hostile client would: 100,000 tiny messages on one stream, a cancel in the middle,
    /// a stream left half-open until its deadline, many concurrent streams on one connection; directly and
    /// through the gateway.
    @Suite("Robustness: abusive streams", .serialized)
    struct StreamAbuseTests {
        /// Every method whose request is a stream (through the gateway: those it routes; the others are
        /// internal, reached directly only).
        static func clientStreamingRows(throughGateway: Bool) -> [RobustnessRow] {
            RobustnessTable.rows.filter {
                ProtoSchema.shared.methods[$0.method]?.clientStreaming == true && (!throughGateway || Robustness.routedByGateway($0))
            }
        }

        static func serverStreamingRows(throughGateway: Bool) -> [RobustnessRow] {
            RobustnessTable.rows.filter {
                ProtoSchema.shared.methods[$0.method]?.serverStreaming == true && (!throughGateway || Robustness.routedByGateway($0))
            }
        }

        @Test("100,000 tiny messages on one stream of every client-streaming method", arguments: [false, true])
        func manyTinyMessages(throughGateway: Bool) async throws {
            let system = try await Robustness.system()
            let failures = FailureLog()
            // store 3 + reconciliation 2, blob 2 (tvix, snix), negentropy 3, the backrest hub's Sync, routing's
            // PublishMany: the gateway routes every one (SystemShape)
            #expect(Self.clientStreamingRows(throughGateway: throughGateway).count == 13)
            for row in Self.clientStreamingRows(throughGateway: throughGateway) {
                let port = throughGateway ? system.port("gateway") : Robustness.directPorts(row, in: system)[0]
                // The smallest valid message of the method (a real seed, else the empty message), 100,000 times.
                let tiny = row.seeds.min(by: { $0.count < $1.count }) ?? []
                let message = row.method.hasSuffix("/Put") ? RobustnessTable.bytes(Tvix_Castore_V1_BlobChunk.with { $0.data = Data([7]) }) : tiny
                try await withRawClient(port: port) { client in
                    // Every valid store message is a database statement: the deadline usually ends those streams
                    // first (the point is that the flood and its deadline leave the server as it was).
                    let outcome = await rawCall(client, method: row.method, messages: Array(repeating: message, count: 100_000), timeout: .seconds(8))
                    if let problem = Robustness.problem(outcome, allowed: [.deadlineExceeded]) { failures.record("\(row.method): \(problem)") }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "100,000-message streams")
        }

        @Test("a blob of 100,000 one-byte chunks is stored whole")
        func tinyChunksMakeOneBlob() async throws {
            let system = try await Robustness.system()
            let data = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try await withTestClient(port: system.port("blob")) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let put = try await blobs.put(
                    request: StreamingClientRequest { writer in
                        for byte in data { try await writer.write(.with { $0.data = Data([byte]) }) }
                    })
                let read = try await blobs.read(.with { $0.digest = put.digest }) { response in
                    try await response.messages.reduce(into: Data()) { $0 += $1.data }
                }
                #expect(read == data)
            }
        }

        @Test("cancelled in the middle: client streams after some messages, server streams after the first answer", arguments: [false, true])
        func cancelInTheMiddle(throughGateway: Bool) async throws {
            let system = try await Robustness.system()
            // A blob of many chunks, so that Read is a long stream worth cancelling.
            let digest = try await storeBlob(system, bytes: 24 << 20)
            for row in Self.clientStreamingRows(throughGateway: throughGateway) + Self.serverStreamingRows(throughGateway: throughGateway) {
                let port = throughGateway ? system.port("gateway") : Robustness.directPorts(row, in: system)[0]
                let message =
                    row.method.hasSuffix("/Read")
                    ? RobustnessTable.bytes(Tvix_Castore_V1_ReadBlobRequest.with { $0.digest = digest }) : row.seeds.first ?? []
                try await withRawClient(port: port) { client in
                    let call = Task {
                        await rawCall(
                            client, method: row.method, messages: Array(repeating: message, count: 50), timeout: .seconds(30),
                            halfOpen: true, readAtMost: 1)
                    }
                    try await Task.sleep(for: .milliseconds(150))
                    call.cancel()
                    _ = await call.value
                }
            }
            await Robustness.expectAllAlive(system, after: "cancelled streams")
        }

        @Test("streams left half-open until their deadline end with DEADLINE_EXCEEDED and leave the servers serving", arguments: [false, true])
        func halfOpenUntilDeadline(throughGateway: Bool) async throws {
            let system = try await Robustness.system()
            let failures = FailureLog()
            await Robustness.forEach(Self.clientStreamingRows(throughGateway: throughGateway), width: 8) { row in
                let port = throughGateway ? system.port("gateway") : Robustness.directPorts(row, in: system)[0]
                do {
                    try await withRawClient(port: port) { client in
                        let outcome = await rawCall(
                            client, method: row.method, messages: Array(row.seeds.prefix(1)), timeout: .seconds(2), halfOpen: true)
                        // A stream may also have ended earlier with its own status (the first error ends store streams).
                        if outcome.code != .deadlineExceeded, let problem = Robustness.problem(outcome, allowed: []) {
                            failures.record("\(row.method): \(problem)")
                        }
                    }
                } catch {
                    failures.record("\(row.method): \(error)")
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "half-open streams")
        }

        @Test("500 concurrent calls on one connection to each service all get an answer", arguments: [false, true])
        func manyConcurrentStreams(throughGateway: Bool) async throws {
            let system = try await Robustness.system()
            let failures = FailureLog()
            let calls: [(service: String, method: String, message: [UInt8])] = [
                (
                    "store", "/agntcy.dir.store.v1.StoreService/Lookup",
                    RobustnessTable.bytes(Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = RobustnessTable.vectorCID })
                ),
                ("routing", "/routing.v1.RoutingService/Search", RobustnessTable.rows.first { $0.method.hasSuffix("/Search") }?.seeds.first ?? []),
                (
                    "blob", "/tvix.castore.v1.BlobService/Stat",
                    RobustnessTable.bytes(Tvix_Castore_V1_StatBlobRequest.with { $0.digest = Data(repeating: 3, count: 32) })
                ),
                ("negentropy", "/orlysync.negentropy.v1.NegentropyService/GetPeers", []),
            ]
            for (service, method, message) in calls {
                let port = throughGateway ? system.port("gateway") : system.port(service)
                try await withRawClient(port: port) { client in
                    await Robustness.forEach(Array(0..<500), width: 500) { _ in
                        let outcome = await rawCall(client, method: method, messages: [message], timeout: .seconds(60))
                        if let problem = Robustness.problem(outcome, allowed: []) { failures.record("\(method): \(problem)") }
                    }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.count) failures:\n\(failures.all.prefix(20).joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "concurrent streams")
        }
    }
}

/// Stores a blob of `bytes` pseudo-random bytes (several FastCDC chunks) and returns its digest.
func storeBlob(_ system: WharfSystem, bytes: Int) async throws -> Data {
    var generator = SeededGenerator(seed: UInt64(bytes))
    var words = (0..<(bytes + 7) / 8).map { _ in generator.next() }
    let data = words.withUnsafeMutableBytes { Data($0.prefix(bytes)) }
    return try await withTestClient(port: system.port("blob")) { client in
        try await Tvix_Castore_V1_BlobService.Client(wrapping: client).put(
            request: StreamingClientRequest { writer in
                for start in stride(from: 0, to: data.count, by: 1 << 20) {
                    try await writer.write(.with { $0.data = data[start..<min(start + (1 << 20), data.count)] })
                }
            }
        ).digest
    }
}
