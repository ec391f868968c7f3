import Logging
import RoutingCore
import Testing
import WharfProto
import WharfTestSupport

@Suite("The PostgreSQL label index agrees with upstream's matching rules")
struct LabelIndexTests {
    static let skills = ["a", "a/b", "a/b/c", "a/bc", "b", "b/a", "ab"]
    static let locators = ["docker_image", "source_code", "binary", "docker_image/x"]

    @Test("random records and searches: same records, scores and matched queries as the in-memory reference")
    func agreesWithReference() async throws {
        var generator = SystemRandomNumberGenerator()
        let records: [(cid: String, labels: [String])] = (0..<300).map { index in
            let skillLabels = (0..<Int.random(in: 0...3, using: &generator)).map { _ in "/skills/" + Self.skills.randomElement(using: &generator)! }
            let locatorLabels = (0..<Int.random(in: 0...2, using: &generator)).map { _ in "/locators/" + Self.locators.randomElement(using: &generator)! }
            return (String(format: "cid-%04d", index), skillLabels + locatorLabels)
        }
        try await withTestDatabase(migrations: [LabelIndex.migrations]) { client, _ in
            let index = LabelIndex(client: client, logger: Logger(label: "test"))
            for record in records { try await index.publish(record.cid, labels: record.labels) }
            // Statistics make common conjunctions go through the bounded sequential probe, as in production.
            try await client.query("ANALYZE routing.records", logger: Logger(label: "test"))
            var generator = SystemRandomNumberGenerator()
            for round in 0..<150 {
                let queries: [Routing_V1_RecordQuery] = (0..<Int.random(in: 1...9, using: &generator)).map { _ in
                    switch Int.random(in: 0..<10, using: &generator) {
                    case 0: return .with { $0.type = .unspecified; $0.value = "x" }
                    case 1: return .with { $0.type = .UNRECOGNIZED(9); $0.value = "a" }
                    case 2...4: return .with { $0.type = .locator; $0.value = Self.locators.randomElement(using: &generator)! }
                    default: return .with { $0.type = .skill; $0.value = (Self.skills + ["a/", "c", ""]).randomElement(using: &generator)! }
                    }
                }
                let deduplicated = LabelQuery.deduplicated(queries)
                let minimumScore = Int.random(in: 1...3, using: &generator)
                let limit = [0, 0, 5, 40].randomElement(using: &generator)!
                let found = try await index.search(deduplicated, minimumScore: minimumScore, limit: limit)

                let reference = records.compactMap { record -> LabelIndex.Match? in
                    let matched = deduplicated.indices.filter { deduplicated[$0].matches(record.labels) }
                    return matched.count >= minimumScore ? LabelIndex.Match(cid: record.cid, matchedQueries: matched) : nil
                }
                let context = "round \(round): \(deduplicated.map { "\($0.kind):\($0.value)" }) min \(minimumScore) limit \(limit)"
                // Scores never increase along the answer.
                #expect(zip(found, found.dropFirst()).allSatisfy { $0.matchedQueries.count >= $1.matchedQueries.count }, "\(context)")
                if limit == 0 {
                    #expect(Set(found.map(\.cid)) == Set(reference.map(\.cid)), "\(context)")
                } else {
                    #expect(found.count == min(limit, reference.count), "\(context)")
                    // The answer is a best-scoring prefix: nothing left out scores higher than what is in.
                    let lowestIn = found.map(\.matchedQueries.count).min() ?? Int.max
                    let left = reference.filter { match in !found.contains { $0.cid == match.cid } }
                    #expect(left.allSatisfy { $0.matchedQueries.count <= lowestIn }, "\(context)")
                }
                let byCID = Dictionary(uniqueKeysWithValues: reference.map { ($0.cid, $0.matchedQueries) })
                for match in found { #expect(byCID[match.cid] == match.matchedQueries, "\(context) \(match.cid)") }
            }
            // List semantics (every key): the records having all of them.
            let keys = ["/skills/a/", "/locators/docker_image"]
            let listed = try await index.records(havingAll: keys, limit: 0).map(\.cid)
            let expected = records.filter { record in
                LabelQuery(.with { $0.type = .skill; $0.value = "a" }).matches(record.labels)
                    && LabelQuery(.with { $0.type = .locator; $0.value = "docker_image" }).matches(record.labels)
            }.map(\.cid)
            #expect(listed == expected.sorted())
        }
    }
}
