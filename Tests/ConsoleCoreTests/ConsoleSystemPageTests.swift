import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfTestSupport

extension ConsoleSystemSuites {
    @Suite("console: the System page from the gateway's routes and every replica's status and metrics", .serialized)
    struct ConsoleSystemPageTests {
        @Test(
            "every route and replica the gateway lists is on the page; PostgreSQL and Redis reachable from each; request rates from the replicas' metrics; limiters with their limits; the page's JSON refreshes the same values; the page is under 200 KB"
        )
        func systemPage() async throws {
            try await ConsoleFixture.runSignedIn { fixture, browser in
                let routes = try await fixture.withGatewayClient { client in
                    try await Wharf_Gateway_V1_GatewayStatus.Client(wrapping: client).listRoutes(.init()).routes
                }
                let addresses = Set(routes.flatMap { $0.replicas.map(\.address) })
                #expect(addresses.count == 5)
                // Traffic for the store's rate: records pushed through the gateway, one stream per second.
                let traffic = Task {
                    try await fixture.withGatewayClient { client in
                        var index = 0
                        while !Task.isCancelled {
                            _ = try await client.pushRecords([labelledRecord("console-\(index)", skills: ["a/b"], locators: ["x"])])
                            index += 1
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
                defer { traffic.cancel() }
                var page = ""
                let storeAddress = fixture.services.address("store")
                let ready = try await eventually(timeout: .seconds(30), every: .milliseconds(300)) {
                    page = try await browser.get("/system").body
                    let store = HTMLRows.rows(page, attribute: "data-address").first { $0.value == storeAddress }
                    return HTMLRows.rows(page, attribute: "data-address").count == 5 && store?.text.contains("serving") == true
                        && store.map { !$0.text.contains("– –") } == true
                        && HTMLRows.text(ofID: "postgres-reachable", in: page) == "5 / 5"
                }
                #expect(ready, "\(page.prefix(4000))")
                let replicaRows = HTMLRows.rows(page, attribute: "data-address")
                #expect(Set(replicaRows.map(\.value)) == addresses)
                for row in replicaRows { #expect(row.text.contains("serving"), "\(row.text)") }
                let storeRow = try #require(replicaRows.first { $0.value == storeAddress })
                #expect(storeRow.text.hasPrefix("store "))
                // The store's requests per second, read from its metrics over the last minute, is above zero.
                let numbers = storeRow.text.split(separator: " ").compactMap { Double($0) }
                #expect(numbers.contains { $0 > 0 }, "\(storeRow.text)")
                let routeRows = HTMLRows.rows(page, attribute: "data-service")
                #expect(Set(routeRows.map(\.value)) == Set(routes.map(\.service)))
                for route in routes {
                    let row = try #require(routeRows.first { $0.value == route.service })
                    for replica in route.replicas { #expect(row.text.contains(replica.address)) }
                }
                #expect(HTMLRows.text(ofID: "redis-reachable", in: page) == "5 / 5")
                let limiters = HTMLRows.rows(page, attribute: "data-limiter")
                let watchers = try #require(limiters.first { $0.value == "store_watchers" })
                // "<component> <address> store_watchers <in use> <limit> <saturation> %": a limit, and a saturation read from both.
                let figures = watchers.text.split(separator: " ").compactMap { Int($0) }
                #expect(figures.count >= 2 && figures[1] > 0, "\(watchers.text)")
                #expect(watchers.text.hasSuffix("%"), "\(watchers.text)")
                #expect(limiters.contains { $0.value == "negentropy_sessions" })
                #expect(page.utf8.count < 200_000)
                #expect(page.contains("WHARF_NEGENTROPY_MAX_SET_SIZE"))

                let live = try await browser.get("/system.json")
                #expect(live.status == 200)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(live.body.utf8)) as? [String: Any])
                let texts = try #require(json["text"] as? [String: String])
                #expect(texts["health:\(storeAddress)"] == "serving")
                #expect(texts["postgres"] == "5 / 5")
                #expect((json["svg"] as? [String: String])?["spark:\(storeAddress)"]?.hasPrefix("<svg") == true)
            }
        }
    }
}
