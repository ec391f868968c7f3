import Logging
import RoutingCore
import Testing
import WharfProto
import WharfTestSupport

@Suite("The label index (PostgreSQL, and each replica's resident copy) agrees with upstream's matching rules")
struct LabelIndexTests {
    static let skills = ["a", "a/b", "a/b/c", "a/bc", "b", "b/a", "ab"]
    static let locators = ["docker_image", "source_code", "binary", "docker_image/x"]

    @Test(
        "random records and searches: same records, scores and matched queries as the in-memory reference",
        arguments: [false, true])
    func agreesWithReference(residentIndex: Bool) async throws {
        var generator = SystemRandomNumberGenerator()
        let all: [(cid: String, labels: [String])] = (0..<300).map { index in
            let skillLabels = (0..<Int.random(in: 0...3, using: &generator)).map { _ in "/skills/" + Self.skills.randomElement(using: &generator)! }
            let locatorLabels = (0..<Int.random(in: 0...2, using: &generator)).map { _ in
                "/locators/" + Self.locators.randomElement(using: &generator)!
            }
            return (String(format: "cid-%04d", index), skillLabels + locatorLabels)
        }
        try await withTestDatabase(migrations: [LabelIndex.migrations]) { client, _ in
            let index = LabelIndex(client: client, logger: Logger(label: "test"), residentIndex: residentIndex)
            for record in all.prefix(200) { try await index.publish(record.cid, labels: record.labels) }
            #expect(try await index.loadResident() == (residentIndex ? 200 : nil))
            // Another replica publishes the rest and unpublishes some: the resident index learns of the first
            // by catching up, of the second when it picks them.
            let otherReplica = LabelIndex(client: client, logger: Logger(label: "test"))
            for record in all.dropFirst(200) { try await otherReplica.publish(record.cid, labels: record.labels) }
            let unpublished = Set(all.indices.filter { $0 % 10 == 3 }.map { all[$0].cid })
            for cid in unpublished { #expect(try await otherReplica.unpublish(cid)) }
            let records = all.filter { !unpublished.contains($0.cid) }
            // Statistics make common conjunctions go through the bounded sequential probe, as in production.
            try await client.query("ANALYZE routing.records", logger: Logger(label: "test"))
            var generator = SystemRandomNumberGenerator()
            for round in 0..<150 {
                let queries: [Routing_V1_RecordQuery] = (0..<Int.random(in: 1...9, using: &generator)).map { _ in
                    switch Int.random(in: 0..<10, using: &generator) {
                    case 0:
                        return .with {
                            $0.type = .unspecified; $0.value = "x"
                        }
                    case 1:
                        return .with {
                            $0.type = .UNRECOGNIZED(9); $0.value = "a"
                        }
                    case 2...4:
                        return .with {
                            $0.type = .locator; $0.value = Self.locators.randomElement(using: &generator)!
                        }
                    default:
                        return .with {
                            $0.type = .skill; $0.value = (Self.skills + ["a/", "c", ""]).randomElement(using: &generator)!
                        }
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
                LabelQuery(
                    .with {
                        $0.type = .skill; $0.value = "a"
                    }
                ).matches(record.labels)
                    && LabelQuery(
                        .with {
                            $0.type = .locator; $0.value = "docker_image"
                        }
                    ).matches(record.labels)
            }.map(\.cid)
            #expect(listed == expected.sorted())
        }
    }

    @Test("the resident index sees records of a transaction still open at its catch-up once it commits, and unpublishes at once")
    func residentCatchUp() async throws {
        try await withTestDatabase(migrations: [LabelIndex.migrations]) { client, _ in
            let logger = Logger(label: "test")
            let index = LabelIndex(client: client, logger: logger, residentIndex: true)
            let otherReplica = LabelIndex(client: client, logger: logger)
            let skill = LabelQuery.deduplicated([
                .with {
                    $0.type = .skill; $0.value = "a"
                }
            ])
            func found() async throws -> [String] {
                try await index.search(skill, minimumScore: 1, limit: 10).map(\.cid)
            }
            try await index.publish("cid-1", labels: ["/skills/a/b"])
            #expect(try await index.loadResident() == 1)
            #expect(index.residentCount == 1)
            #expect(try await found() == ["cid-1"])

            // A transaction inserts and stays open while this replica searches (and so catches up): its row is
            // invisible then, and must not be skipped once it commits.
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "INSERT INTO routing.records (cid, labels, match_keys) VALUES ('cid-2', '{/skills/a}', '{/skills/a/}')",
                    logger: logger)
                #expect(try await found() == ["cid-1"])
                try await index.catchUpResident()
            }
            #expect(try await found() == ["cid-1", "cid-2"])
            #expect(index.residentCount == 2)

            try await otherReplica.publish("cid-3", labels: ["/skills/a"])
            #expect(try await found() == ["cid-1", "cid-2", "cid-3"])
            #expect(try await otherReplica.unpublish("cid-1"))
            #expect(try await found() == ["cid-2", "cid-3"])
            #expect(index.residentCount == 2)
            #expect(try await index.unpublish("cid-2"))
            #expect(try await found() == ["cid-3"])
            #expect(index.residentCount == 1)
        }
    }
}
