import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PostgresNIO
import RoutingCore
import WharfProto
import WharfRuntime

// Routing figures (scripts/bench-routing prints them):
//   RoutingBench load <postgres-url> <records>   bulk-indexes synthetic published records
//   RoutingBench search <port> [iterations]       Search latency p50/p99 through a running routing service
//
// Synthetic records: 1–3 skills out of 90 (15 categories × 6 classes, "category_i/class_j"), one locator
// type out of 6, one domain out of 49, as OASF records are labelled.

let categories = (0..<15).map { "category_\($0)" }
let skills = categories.flatMap { category in (0..<6).map { "\(category)/class_\($0)" } }
let locatorTypes = ["binary", "unspecified", "helm_chart", "docker_image", "python_package", "source_code"]

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func load(url: String, count: Int) async throws {
    let logger = Logger(label: "bench")
    let client = PostgresClient(configuration: try PostgresConfiguration(url: url).clientConfiguration)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        try await MigrationRunner.apply([LabelIndex.migrations], on: client, logger: logger)
        try await client.query("TRUNCATE routing.records", logger: logger)
        // Bulk load without the GIN index, then build it once (as one would restore a large index).
        try await client.query("DROP INDEX IF EXISTS routing.records_by_match_key", logger: logger)
        var generator = SystemRandomNumberGenerator()
        let clock = ContinuousClock()
        let start = clock.now
        let batch = 5000
        for first in stride(from: 0, to: count, by: batch) {
            var cids: [String] = [], labelLists: [String] = [], keyLists: [String] = []
            for index in first..<min(first + batch, count) {
                var labels = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                    "/skills/" + skills[Int.random(in: 0..<skills.count, using: &generator)]
                }
                labels.append("/domains/domain_\(Int.random(in: 0..<49, using: &generator))")
                labels.append("/locators/" + locatorTypes[Int.random(in: 0..<locatorTypes.count, using: &generator)])
                cids.append(String(format: "baearei-bench-%08d", index))
                labelLists.append(labels.joined(separator: "\u{1F}"))
                keyLists.append(RecordLabels.matchKeys(labels).sorted().joined(separator: "\u{1F}"))
            }
            try await client.query(
                """
                INSERT INTO routing.records (cid, labels, match_keys)
                SELECT c, string_to_array(l, chr(31)), string_to_array(k, chr(31))
                FROM unnest(\(cids)::text[], \(labelLists)::text[], \(keyLists)::text[]) AS t(c, l, k)
                """, logger: logger)
        }
        let loaded = clock.now
        try await client.query("CREATE INDEX records_by_match_key ON routing.records USING gin (match_keys)", logger: logger)
        try await client.query("VACUUM ANALYZE routing.records", logger: logger)
        print(
            String(
                format: "indexed %d records: rows %.1f s, GIN index and analyze %.1f s", count,
                seconds(loaded - start), seconds(clock.now - loaded)))
        group.cancelAll()
    }
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func search(port: Int, iterations: Int) async throws {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    try await withGRPCClient(transport: transport) { client in
        let routing = Routing_V1_RoutingService.Client(wrapping: client)
        var generator = SystemRandomNumberGenerator()
        func randomQuery() -> Routing_V1_RecordQuery {
            switch Int.random(in: 0..<3, using: &generator) {
            case 0:
                .with {
                    $0.type = .skill; $0.value = skills[Int.random(in: 0..<skills.count, using: &generator)]
                }
            case 1:
                .with {
                    $0.type = .skill; $0.value = categories[Int.random(in: 0..<categories.count, using: &generator)]
                }
            default:
                .with {
                    $0.type = .locator; $0.value = locatorTypes[Int.random(in: 0..<locatorTypes.count, using: &generator)]
                }
            }
        }
        for (count, minimumScore) in [(1, 1), (2, 1), (3, 1), (2, 2), (3, 3)] {
            var latencies: [Double] = []
            var results = 0
            for round in 0..<(iterations + 20) {
                let request = Routing_V1_SearchRequest.with {
                    $0.queries = (0..<count).map { _ in randomQuery() }
                    $0.minMatchScore = UInt32(minimumScore)
                    $0.limit = 100
                }
                let clock = ContinuousClock()
                let start = clock.now
                let answered = try await routing.search(request) { response in try await response.messages.reduce(0) { n, _ in n + 1 } }
                if round >= 20 {  // the first rounds warm caches and connections
                    latencies.append(seconds(clock.now - start) * 1000)
                    results += answered
                }
            }
            latencies.sort()
            print(
                String(
                    format: "search %d-query min_match_score %d limit 100: p50 %.2f ms  p99 %.2f ms  (%d searches, %.0f results each on average)",
                    count, minimumScore, percentile(latencies, 0.5), percentile(latencies, 0.99), iterations,
                    Double(results) / Double(iterations)))
        }
    }
}

let arguments = CommandLine.arguments
switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
case (4, "load"):
    try await load(url: arguments[2], count: Int(arguments[3]) ?? 1_000_000)
case (3..., "search"):
    guard let port = Int(arguments[2]) else { fatalError("port must be a number") }
    try await search(port: port, iterations: arguments.count > 3 ? Int(arguments[3]) ?? 500 : 500)
default:
    print("usage: RoutingBench load <postgres-url> <records> | RoutingBench search <port> [iterations]")
    exit(2)
}
