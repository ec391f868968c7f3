import Foundation
import GRPCCore
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

@Suite("backrest hub: ListOperations (the console's history) and the kinds of stored operations", .serialized)
struct BackrestOperationListTests {
    /// Operations of every kind the hub tells apart: backups of two plans (one failed), a forget, one of no kind.
    static func operations(_ client: BackrestClientIdentity) -> [V1_Operation] {
        (1...8).map { index -> V1_Operation in
            var operation = client.operation(Int64(index), flow: Int64(index), modno: Int64(index))
            operation.planID = index % 2 == 0 ? "hourly" : "daily"
            operation.unixTimeStartMs = 1_765_000_000_000 + Int64(index) * 1000
            operation.status = index == 4 ? .statusError : .statusSuccess
            switch index {
            case 7: operation.operationForget = .init()
            case 8: break
            default: operation.operationBackup = .init()
            }
            return operation
        }
    }

    @Test(
        "filters by client, plan, kind and status, newest start first; a limit above 1,000, an unknown kind or status, a keyid with NUL are INVALID_ARGUMENT; rows stored before kinds existed get theirs at the next start"
    )
    func listOperations() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        let laptop = BackrestClientIdentity(instanceID: "laptop")
        try await withServices([.sync], database: database) { services in
            try await withTestClient(port: services.port("sync"), admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                _ = try await hub.addClient(
                    .with {
                        $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = BackrestHubTests.readOperations
                    })
                try await withHubSession(client) { io in
                    io.send.yield(try laptop.handshake())
                    for _ in 0..<4 { _ = try await io.next() }
                    io.send.yield(created(Self.operations(laptop)))
                    #expect(try await eventually { try await postgres.count("backrest.operations", database: database) == 8 })
                }
                let all = try await hub.listOperations(.init()).operations
                #expect(all.map(\.operation.originalID) == [8, 7, 6, 5, 4, 3, 2, 1])
                #expect(all.allSatisfy { $0.keyid == laptop.identity.publicKey.keyid })
                let hourlyBackups = try await hub.listOperations(
                    .with {
                        $0.planID = "hourly"; $0.kind = "backup"
                    }
                ).operations
                #expect(hourlyBackups.map(\.operation.originalID) == [6, 4, 2])
                let failed = try await hub.listOperations(.with { $0.status = .statusError }).operations
                #expect(failed.map(\.operation.originalID) == [4])
                #expect(try await hub.listOperations(.with { $0.kind = "forget" }).operations.map(\.operation.originalID) == [7])
                #expect(try await hub.listOperations(.with { $0.limit = 3 }).operations.count == 3)
                #expect(try await hub.listOperations(.with { $0.keyid = "ecdsa.someone-else" }).operations.isEmpty)

                for (request, what) in [
                    (Wharf_Sync_V1_ListOperationsRequest.with { $0.limit = 1001 }, "limit"),
                    (.with { $0.kind = "snapshot" }, "kind"), (.with { $0.status = .UNRECOGNIZED(99) }, "status"),
                    (.with { $0.keyid = "a\u{0}b" }, "keyid"), (.with { $0.planID = String(repeating: "p", count: 1025) }, "plan_id"),
                ] {
                    do {
                        _ = try await hub.listOperations(request)
                        Issue.record("\(what) was accepted")
                    } catch let error as RPCError {
                        #expect(error.code == .invalidArgument && error.message.contains(what), "\(error)")
                    }
                }
                // Without the admin token: refused.
                try await withTestClient(port: services.port("sync")) { anonymous in
                    await #expect(throws: RPCError.self) {
                        _ = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: anonymous).listOperations(.init())
                    }
                }
            }
        }
        // Rows from before kinds were stored (kind NULL) are given theirs when a sync service starts.
        try await postgres.query(database: database, "UPDATE backrest.operations SET kind = NULL")
        try await withServices([.sync], database: database) { services in
            #expect(try await eventually { try await postgres.count("backrest.operations WHERE kind IS NULL", database: database) == 0 })
            #expect(try await postgres.count("backrest.operations WHERE kind = 'backup'", database: database) == 6)
            #expect(try await postgres.count("backrest.operations WHERE kind = 'forget'", database: database) == 1)
            #expect(try await postgres.count("backrest.operations WHERE kind = ''", database: database) == 1)
            try await withTestClient(port: services.port("sync"), admin: true) { client in
                let backups = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: client).listOperations(.with { $0.kind = "backup" })
                #expect(backups.operations.count == 6)
            }
        }
    }
}
