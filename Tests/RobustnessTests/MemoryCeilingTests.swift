import Foundation
import GRPCCore
import Synchronization
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Thirty seconds of the worst of the suite at once, through the gateway and straight to each service, while
    /// every process's resident memory is sampled: each must stay under its documented ceiling (README "Limits").
    @Suite("Robustness: memory stays bounded under abuse", .serialized)
    struct MemoryCeilingTests {
        /// Resident memory ceilings in MiB, per executable (README "Limits" lists the same).
        static let ceilings: [String: Int] = ["store": 512, "routing": 512, "blob": 512, "negentropy": 768, "gateway": 384]

        @Test("30 s of abuse: every process stays under its resident-memory ceiling")
        func ceilingsHold() async throws {
            let system = try await Robustness.system()
            let peaks = Shared<[String: Int]>([:])
            let stop = Shared(false)
            let generator = HostileMessages(schema: ProtoSchema.shared)
            // The heaviest hostile requests of every routed RPC (1 MiB strings, 5,000-entry lists, wide Structs).
            let heavy: [(String, [UInt8])] = RobustnessTable.rows.filter { Robustness.routedByGateway($0) && $0.readAtMost == .max }.flatMap { row in
                guard let input = ProtoSchema.shared.methods[row.method]?.input else { return [(String, [UInt8])]() }
                return generator.variants(of: input, seeds: row.seeds, seed: 1).filter { $0.1.count > 50_000 }.map { (row.method, $0.1) }
            }
            #expect(heavy.count > 20)
            let maxRecord = RobustnessTable.bytes(
                Agntcy_Dir_Core_V1_Record.with { record in
                    record.data = .init(fields: [
                        "name": .init(stringValue: "big"), "version": .init(stringValue: "v1"),
                        "schema_version": .init(stringValue: "v0.7.0"),
                        "description": .init(stringValue: String(repeating: "d", count: 4_000_000)),
                    ])
                })
            let deadline = ContinuousClock.now + .seconds(30)
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while ContinuousClock.now < deadline {
                        for component in system.components {
                            let bytes = system.residentBytes(component.name) ?? 0
                            peaks.update { $0[component.name] = max($0[component.name] ?? 0, bytes) }
                        }
                        try? await Task.sleep(for: .milliseconds(250))
                    }
                    stop.update { $0 = true }
                }
                // Hostile requests, 24 at a time: a third through the gateway, the rest straight to the services.
                for worker in 0..<24 {
                    group.addTask {
                        let port = worker % 3 == 0 ? system.port("gateway") : nil
                        var index = worker
                        while !stop.current {
                            let (method, bytes) = heavy[index % heavy.count]
                            index += 7
                            let row = RobustnessTable.rows.first { $0.method == method }
                            let target = port ?? row.flatMap { Robustness.directPorts($0, in: system).first } ?? system.port("gateway")
                            _ = try? await withRawClient(port: target) { client in
                                await rawCall(client, method: method, messages: [bytes], timeout: .seconds(10))
                            }
                        }
                    }
                }
                // Records at the 4 MiB limit, and streams of 1 MiB blob chunks.
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.current {
                            _ = try? await withRawClient(port: system.port("gateway")) { client in
                                await rawCall(
                                    client, method: "/agntcy.dir.store.v1.StoreService/Push", messages: Array(repeating: maxRecord, count: 4))
                            }
                        }
                    }
                    group.addTask {
                        let chunk = RobustnessTable.bytes(Tvix_Castore_V1_BlobChunk.with { $0.data = Data(repeating: 0x5A, count: 1 << 20) })
                        while !stop.current {
                            _ = try? await withRawClient(port: system.port("gateway")) { client in
                                await rawCall(client, method: "/tvix.castore.v1.BlobService/Put", messages: Array(repeating: chunk, count: 16))
                            }
                        }
                    }
                }
                await group.waitForAll()
            }
            let measured = peaks.current
            for (name, ceiling) in Self.ceilings {
                let peak = measured[name] ?? 0
                print("memory ceiling: \(name) peak \(peak >> 20) MiB of \(ceiling) MiB")
                #expect(peak > 0 && peak < ceiling << 20, "\(name): peak resident memory \(peak >> 20) MiB, ceiling \(ceiling) MiB")
            }
            await Robustness.expectAllAlive(system, after: "30 s of abuse")
        }
    }
}
