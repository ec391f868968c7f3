import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfTestSupport

extension FaultTests {
    @Test("kill -9 of the store during 10,000 concurrent Pushes: every CID acknowledged is readable afterwards")
    func storeKilledDuringPushes() async throws {
        let system = try await WharfSystem.start(only: ["store"])
        defer { Task { await system.stop() } }
        let port = system.port("store")
        let total = 10_000
        let inFlight = 400
        let acknowledged = AcknowledgedCIDs()
        let killAfter = 3_000
        let clock = ContinuousClock()
        let run = UUID().uuidString.prefix(8)

        try await withTestClient(port: port) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The killer: SIGKILL once a part of the pushes is acknowledged, while hundreds are in flight.
                group.addTask {
                    while acknowledged.count < killAfter, acknowledged.count + acknowledged.failures < total {
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    system.component("store").process.send(SIGKILL)
                }
                var next = 0
                func pushOne(_ index: Int) async {
                    let record = labelledRecord("fault-\(run)-\(index)", skills: ["fault/store_kill"], locators: [])
                    do {
                        for cid in try await client.pushRecords([record], options: faultCallOptions()) { acknowledged.add(cid) }
                    } catch {
                        acknowledged.failed()
                    }
                }
                await withTaskGroup(of: Void.self) { pushes in
                    while next < min(inFlight, total) {
                        let index = next
                        pushes.addTask { await pushOne(index) }
                        next += 1
                    }
                    while await pushes.next() != nil, next < total {
                        let index = next
                        pushes.addTask { await pushOne(index) }
                        next += 1
                    }
                }
                try await group.waitForAll()
            }
        }
        let ackedCIDs = acknowledged.all
        #expect(await system.component("store").process.waitForExit(timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(ackedCIDs.count >= killAfter && ackedCIDs.count < total, "the kill came after every push was answered")
        #expect(ackedCIDs.count + acknowledged.failures == total)

        let restartStarted = clock.now
        try await system.respawn("store")
        let restart = clock.now - restartStarted
        let found = try await withTestClient(port: port) { client in try await client.pullableCIDs(ackedCIDs) }
        let lost = Set(ackedCIDs).subtracting(found)
        #expect(lost.isEmpty, "acknowledged but not readable after the restart: \(lost.prefix(5))")
        reportFigures(
            "store kill -9",
            [
                "pushes": "\(total)", "in_flight": "\(inFlight)", "acknowledged": "\(ackedCIDs.count)",
                "failed_or_cut": "\(acknowledged.failures)", "found_after_restart": "\(found.count)", "lost": "\(lost.count)",
                "restart_to_serving": milliseconds(restart),
            ])
    }
}
