import Foundation
import GRPCCore
import RoutingCore
import Testing
import WharfProto
import WharfTestSupport

@Suite("wharf.routing.v1 RecordPublishing: many Publishes per message")
struct PublishManyTests {
    /// A skill name JSON has to escape, to show the labels travel intact.
    static let escaped = "quoted \"name\"/back\\slash/ünïcode \u{1F}unit-separator"

    @Test("each CID gets Publish's outcome in order, published records list and search as Publish's do")
    func outcomesInOrder() async throws {
        try await withServices([.store, .routing(environment: ["WHARF_ROUTING_PEER_ID": "node-m"])]) { services in
            let (store, routing) = (services.port("store"), services.port("routing"))
            try await withTestClient(port: store) { storeClient in
                try await withTestClient(port: routing) { client in
                    let manyLabels = (0..<(RoutingLimits.maximumLabelsPerRecord + 1)).map { "skill_\($0)" }
                    let cids = try await storeClient.pushRecords([
                        labelledRecord("by-publish", skills: [RoutingServiceTests.generation, Self.escaped], locators: ["docker_image"]),
                        labelledRecord("by-many", skills: [RoutingServiceTests.generation, Self.escaped], locators: ["docker_image"]),
                        labelledRecord("vision", skills: [RoutingServiceTests.vision], locators: ["source_code"]),
                        labelledRecord("too-many-labels", skills: manyLabels, locators: []),
                    ])
                    let (byPublish, byMany, vision, tooMany) = (cids[0], cids[1], cids[2], cids[3])
                    let routingClient = Routing_V1_RoutingService.Client(wrapping: client)
                    _ = try await routingClient.publish(.with { $0.recordCid = byPublish })

                    let publishing = Wharf_Routing_V1_RecordPublishing.Client(wrapping: client)
                    let missing = "baeareinotthere"
                    let requests: [[String]] = [[byMany, missing, "", vision], [tooMany, "nul\u{0}cid", byMany, missing, missing]]
                    let responses = try await publishing.publishMany(
                        request: StreamingClientRequest { writer in
                            for cids in requests { try await writer.write(.with { $0.recordCids = cids }) }
                        }
                    ) { response in try await response.messages.reduce(into: [Wharf_Routing_V1_PublishManyResponse]()) { $0.append($1) } }
                    #expect(responses.map { $0.outcomes.map(\.recordCid) } == requests)
                    let codes = responses.map { $0.outcomes.map { Status.Code(rawValue: Int($0.code)) } }
                    #expect(codes == [[.ok, .notFound, .invalidArgument, .ok], [.invalidArgument, .notFound, .ok, .notFound, .notFound]])
                    let outcomes = responses.flatMap(\.outcomes)
                    #expect(outcomes[1].message == "failed to get record: failed to lookup object: record not found: \(missing)")
                    #expect(outcomes[2].message == "object reference is required and must have a type")
                    #expect(outcomes[4].message.hasPrefix("record \(tooMany) cannot be published: it has \(manyLabels.count) labels"))
                    #expect(outcomes.filter { $0.code == 0 }.allSatisfy { $0.message.isEmpty })

                    #expect(Set(try await routingClient.listCIDs([])) == [byPublish, byMany, vision])
                    #expect(Set(try await routingClient.listCIDs([skill(Self.escaped)])) == [byPublish, byMany])
                    #expect(try await routingClient.listCIDs([skill(RoutingServiceTests.vision), locator("source_code")]) == [vision])
                    // The same labels, in the same order, as Publish indexed.
                    let items = try await routingClient.list(.with { $0.legacyListRequest = .with { $0.labels = ["/skills/" + Self.escaped] } }) {
                        response in
                        try await response.messages.reduce(into: [Routing_V1_LegacyListResponse.Item]()) { $0 += $1.legacyListResponse.items }
                    }
                    let labels = Dictionary(uniqueKeysWithValues: items.map { ($0.ref.cid, $0.labels) })
                    #expect(labels[byMany] == labels[byPublish])
                    #expect(labels[byMany] == ["/skills/" + RoutingServiceTests.generation, "/skills/" + Self.escaped, "/locators/docker_image"])

                    // Unpublished again by Unpublish, as any published record.
                    _ = try await routingClient.unpublish(.with { $0.recordCid = byMany })
                    #expect(Set(try await routingClient.listCIDs([])) == [byPublish, vision])
                }
            }
        }
    }

    @Test("a request over 1,000 CIDs ends the stream with INVALID_ARGUMENT after the earlier answers")
    func boundedRequests() async throws {
        try await withServices([.store, .routing]) { services in
            let (store, routing) = (services.port("store"), services.port("routing"))
            try await withTestClient(port: store) { storeClient in
                try await withTestClient(port: routing) { client in
                    // The limit is checked before anything is read, so the oversized request may name unknown records.
                    let cids = try await storeClient.pushRecords(
                        (0..<10).map { labelledRecord("r\($0)", skills: [RoutingServiceTests.vision], locators: []) })
                    let publishing = Wharf_Routing_V1_RecordPublishing.Client(wrapping: client)
                    let (answered, failure) = try await publishing.publishMany(
                        request: StreamingClientRequest { writer in
                            try await writer.write(.with { $0.recordCids = cids })
                            try await writer.write(.with { $0.recordCids = (0..<1_001).map { "baeareiunknown\($0)" } })
                        }
                    ) { response in
                        var messages: [Wharf_Routing_V1_PublishManyResponse] = []
                        do {
                            for try await message in response.messages { messages.append(message) }
                            return (messages, RPCError?.none)
                        } catch let error as RPCError {
                            return (messages, error)
                        }
                    }
                    #expect(failure?.code == .invalidArgument)
                    #expect(failure?.message == "a PublishMany request has 1001 CIDs; at most 1000 are allowed")
                    #expect(answered.count == 1)
                    #expect(answered.first?.outcomes.count == 10)
                    #expect(answered.first?.outcomes.allSatisfy { $0.code == 0 } == true)
                    let routingClient = Routing_V1_RoutingService.Client(wrapping: client)
                    #expect(try await routingClient.listCIDs([skill(RoutingServiceTests.vision)]).count == 10)
                }
            }
        }
    }
}
