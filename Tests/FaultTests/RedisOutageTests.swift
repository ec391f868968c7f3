import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfTestSupport

extension FaultTests {
    /// Redis carries hints only: writes go on while it is down, and what its events would have told routing
    /// is reconciled from PostgreSQL once it is back.
    @Test(
        "Redis down: writes succeed; a record deleted meanwhile is unpublished within one reconciliation interval of Redis's return; events flow again"
    )
    func redisOutage() async throws {
        let redis = try await TestRedis.start()
        defer { Task { await redis.stopServer() } }
        let interval = Duration.seconds(20)
        let system = try await WharfSystem.start(
            environment: ["WHARF_ROUTING_RECONCILE_INTERVAL": "20s"], redis: redis, only: ["store", "routing"])
        defer { Task { await system.stop() } }
        let pids = system.components.map(\.pid)
        let skillName = "fault/redis_outage_\(UUID().uuidString.prefix(8).lowercased())"
        let clock = ContinuousClock()

        try await withTestClient(port: system.port("store")) { store in
            try await withTestClient(port: system.port("routing")) { routingConnection in
                let routing = Routing_V1_RoutingService.Client(wrapping: routingConnection)
                func listed() async throws -> Set<String> { Set(try await routing.listCIDs(skill: skillName)) }
                let cids = try await store.pushRecords((0..<4).map { labelledRecord("redis-\($0)-\(skillName)", skills: [skillName], locators: []) })
                for cid in cids { _ = try await routing.publish(.with { $0.recordCid = cid }) }
                #expect(try await listed() == Set(cids))
                // Events flow: a deletion reaches routing at once.
                try await store.deleteRecords([cids[0]])
                #expect(try await eventually(timeout: .seconds(5)) { !(try await listed()).contains(cids[0]) })

                await redis.stopServer()
                // Writes while Redis is down succeed, and promptly (the hint fails fast).
                let writesStarted = clock.now
                let duringOutage = try await store.pushRecords(
                    [labelledRecord("redis-outage-\(skillName)", skills: [skillName], locators: [])],
                    options: faultCallOptions())
                _ = try await routing.publish(.with { $0.recordCid = duringOutage[0] }, options: faultCallOptions())
                try await store.deleteRecords([cids[1]])
                let writeTime = clock.now - writesStarted
                #expect(writeTime < .seconds(5), "three writes took \(writeTime) while Redis was down")
                // Nobody heard of the deletion yet: routing still lists it (the reconciliation job is 20 s away
                // at most, so this could rarely already be done; the point is what happens after Redis returns).
                try await Task.sleep(for: .seconds(1))

                try await redis.startServer()
                let back = clock.now
                let reconciled = await eventually(timeout: interval + .seconds(2), every: .milliseconds(100)) {
                    (try? await listed())?.contains(cids[1]) == false
                }
                let reconcileTime = clock.now - back
                #expect(reconciled, "the record deleted while Redis was down is still published \(reconcileTime) after Redis returned")
                #expect(reconcileTime <= interval)

                // Subscribers resumed: a deletion after the outage reaches routing by its event again, well before
                // the next reconciliation could.
                let deletedAt = clock.now
                try await store.deleteRecords([cids[2]])
                #expect(try await eventually(timeout: .seconds(5), every: .milliseconds(50)) { !(try await listed()).contains(cids[2]) })
                let eventTime = clock.now - deletedAt

                // Nothing acknowledged was lost.
                #expect(try await store.pullableCIDs([cids[3], duringOutage[0]]).count == 2)
                #expect(try await listed() == [cids[3], duringOutage[0]])
                #expect(system.components.map(\.pid) == pids)
                let problems = await system.problems()
                #expect(problems.isEmpty, "\(problems)")
                reportFigures(
                    "redis outage",
                    [
                        "writes_while_down": "3 in \(milliseconds(writeTime))",
                        "deleted_while_down_unpublished_after_return": milliseconds(reconcileTime),
                        "reconcile_interval": milliseconds(interval), "event_after_return": milliseconds(eventTime),
                    ])
            }
        }
    }
}
