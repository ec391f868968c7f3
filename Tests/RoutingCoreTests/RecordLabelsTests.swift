import Foundation
import RoutingCore
import SwiftProtobuf
import Testing
import WharfProto
import WharfTestSupport

@Suite("Routing labels and query matching as upstream v0.3.0")
struct RecordLabelsTests {
    static func vectorRecord(_ sourceContains: String) throws -> Google_Protobuf_Struct {
        let url = ProjectPaths.fixture("testdata/agntcy_dir_cid_vectors.json")
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let vectors = file?["record_vectors"] as? [[String: Any]] ?? []
        guard let vector = vectors.first(where: { ($0["source"] as? String)?.contains(sourceContains) == true }),
            let canonical = vector["canonical_json"] as? String
        else { throw CocoaError(.fileReadCorruptFile) }
        return try Google_Protobuf_Struct(jsonString: canonical)
    }

    @Test("the spec's §10 example record has the three documented labels")
    func example() throws {
        #expect(
            RecordLabels.of(try Self.vectorRecord("section 10")) == [
                "/skills/natural_language_processing/natural_language_generation/text_completion",
                "/domains/technology/software_engineering", "/locators/docker_image",
            ])
    }

    @Test("v0.3.1: category/class skills, feature extensions without their prefix, no domains; other versions none")
    func agent031() throws {
        #expect(
            RecordLabels.of(try Self.vectorRecord("record_v031")) == [
                "/skills/Natural Language Processing/Text Completion", "/skills/Natural Language Processing/Problem Solving",
                "/features/license", "/features/runtime/framework", "/features/runtime/language", "/locators/docker-image",
            ])
        #expect(RecordLabels.of(try Self.vectorRecord("record_v070")).contains("/features/runtime/framework"))
        #expect(RecordLabels.of(try Self.vectorRecord("record_080_v4")).isEmpty)
    }

    @Test("SKILL matches the label or a label under it at a / boundary; LOCATOR exactly; UNSPECIFIED always; unknown never")
    func matching() {
        let labels = ["/skills/a/b/c", "/locators/docker_image"]
        func query(_ type: Routing_V1_RecordQueryType, _ value: String) -> LabelQuery {
            LabelQuery(
                .with {
                    $0.type = type; $0.value = value
                })
        }
        #expect(query(.skill, "a").matches(labels))
        #expect(query(.skill, "a/b").matches(labels))
        #expect(query(.skill, "a/b/c").matches(labels))
        #expect(!query(.skill, "a/b/c/d").matches(labels))
        #expect(!query(.skill, "a/bc").matches(labels))
        #expect(!query(.skill, "A").matches(labels))
        #expect(query(.locator, "docker_image").matches(labels))
        #expect(!query(.locator, "docker").matches(labels))
        #expect(query(.unspecified, "anything").matches(labels))
        #expect(!query(.UNRECOGNIZED(7), "a").matches(labels))
        let deduplicated = LabelQuery.deduplicated([
            .with {
                $0.type = .skill; $0.value = "a"
            },
            .with {
                $0.type = .skill; $0.value = "a"
            },
            .with {
                $0.type = .locator; $0.value = "a"
            },
        ])
        #expect(deduplicated.count == 2)
    }
}
