import Foundation
import GRPCCore
import Synchronization
import Testing
import WharfProto
import WharfTestSupport

extension FaultTests {
    @Test("PostgreSQL restarted under load: store and routing reconnect by themselves within 10 s; no acknowledged write is lost")
    func postgresRestartedUnderLoad() async throws {
        let postgres = try await TestPostgres.start()
        defer { Task { await postgres.stopServer() } }
        let system = try await WharfSystem.start(
            environment: ["WHARF_ROUTING_MAX_RESULTS": "1000000"], postgres: postgres, only: ["store", "routing"])
        defer { Task { await system.stop() } }
        let pids = system.components.map(\.pid)
        let skillName = "fault/postgres_restart_\(UUID().uuidString.prefix(8).lowercased())"
        let pushed = AcknowledgedCIDs()
        let published = AcknowledgedCIDs()
        let clock = ContinuousClock()
        // The first write acknowledged after PostgreSQL is back, per kind: the services' reconnect time.
        let backAt = MomentOnce()
        let firstPushAfter = MomentOnce()
        let firstPublishAfter = MomentOnce()
        let loadStopped = MomentOnce()
        @Sendable func note(_ moment: MomentOnce) {
            if let back = backAt.value, clock.now > back { moment.mark() }
        }

        try await withTestClient(port: system.port("store")) { store in
            try await withTestClient(port: system.port("routing")) { routingConnection in
                let routing = Routing_V1_RoutingService.Client(wrapping: routingConnection)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<8 {
                        group.addTask {
                            var index = 0
                            while loadStopped.value == nil {
                                index += 1
                                let record = labelledRecord("pg-\(writer)-\(index)-\(skillName)", skills: [skillName], locators: [])
                                do {
                                    guard let cid = try await store.pushRecords([record], options: faultCallOptions(timeout: .seconds(3))).first
                                    else { continue }
                                    pushed.add(cid)
                                    note(firstPushAfter)
                                    _ = try await routing.publish(.with { $0.recordCid = cid }, options: faultCallOptions(timeout: .seconds(3)))
                                    published.add(cid)
                                    note(firstPublishAfter)
                                } catch {
                                    pushed.failed()
                                    try? await Task.sleep(for: .milliseconds(50))
                                }
                            }
                        }
                    }
                    try await Task.sleep(for: .seconds(3))
                    let beforeOutage = pushed.count
                    await postgres.stopServer()
                    try await Task.sleep(for: .seconds(2))
                    try await postgres.startServer()
                    backAt.mark()
                    let recovered = await eventually(timeout: .seconds(30)) {
                        firstPushAfter.value != nil && firstPublishAfter.value != nil
                    }
                    #expect(recovered, "no write succeeded within 30 s of PostgreSQL's return")
                    try await Task.sleep(for: .seconds(3))  // load after recovery
                    loadStopped.mark()
                    try await group.waitForAll()
                    #expect(beforeOutage > 0, "no load ran before the outage")
                }
                let back = try #require(backAt.value)
                let pushRecovery = (firstPushAfter.value ?? clock.now) - back
                let publishRecovery = (firstPublishAfter.value ?? clock.now) - back
                #expect(pushRecovery < .seconds(10), "the store served again only \(pushRecovery) after PostgreSQL returned")
                #expect(publishRecovery < .seconds(10), "routing served again only \(publishRecovery) after PostgreSQL returned")

                let pushedCIDs = pushed.all
                let found = try await store.pullableCIDs(pushedCIDs)
                let lostPushes = Set(pushedCIDs).subtracting(found)
                #expect(lostPushes.isEmpty, "pushes acknowledged but not readable: \(lostPushes.prefix(5))")
                let listed = Set(try await routing.listCIDs(skill: skillName))
                let lostPublishes = Set(published.all).subtracting(listed)
                #expect(lostPublishes.isEmpty, "publishes acknowledged but not listed: \(lostPublishes.prefix(5))")
                #expect(system.components.map(\.pid) == pids)
                let problems = await system.problems()
                #expect(problems.isEmpty, "\(problems)")
                reportFigures(
                    "postgres restart",
                    [
                        "pushes_acknowledged": "\(pushedCIDs.count)", "found": "\(found.count)",
                        "publishes_acknowledged": "\(published.count)", "listed": "\(listed.count)",
                        "failed_during_outage": "\(pushed.failures)", "outage": "2 s + restart",
                        "store_first_write_after_return": milliseconds(pushRecovery),
                        "routing_first_write_after_return": milliseconds(publishRecovery),
                    ])
            }
        }
    }
}

/// A moment noted once (later marks keep the first).
final class MomentOnce: Sendable {
    private let moment = Mutex<ContinuousClock.Instant?>(nil)

    func mark() {
        let now = ContinuousClock.now
        moment.withLock { if $0 == nil { $0 = now } }
    }

    var value: ContinuousClock.Instant? { moment.withLock { $0 } }
}
