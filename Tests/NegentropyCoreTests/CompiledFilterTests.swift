import Foundation
import Testing
import WharfTestSupport

@testable import NegentropyCore

/// Live matching with sets gives NIP-01's answer: compared with a direct reading of the rules on random
/// events and filters, and on the shapes that were quadratic (thousands of tags against thousands of values).
@Suite("Compiled filters match as NIP-01 says")
struct CompiledFilterTests {
    /// NIP-01 read directly: every present condition holds; a tag condition holds when some tag with that
    /// single-letter name has one of the listed values as its first value.
    static func reference(_ filter: NostrFilter, _ event: NostrEvent) -> Bool {
        if let ids = filter.ids, !ids.contains(event.id) { return false }
        if let authors = filter.authors, !authors.contains(event.pubkey) { return false }
        if let kinds = filter.kinds, !kinds.contains(event.kind) { return false }
        if let since = filter.since, event.created_at < since { return false }
        if let until = filter.until, event.created_at > until { return false }
        for (name, values) in filter.tags {
            let held = event.tags.contains { $0.count >= 2 && $0[0] == name && values.contains($0[1]) }
            if !held { return false }
        }
        return true
    }

    @Test("5,000 random event and filter pairs: the same answer as the rules read directly")
    func randomPairs() {
        var random = SeededGenerator(seed: 29)
        let names = ["e", "p", "t", "d", "x"], values = (0..<6).map { "v\($0)" }, ids = (0..<4).map { String(repeating: "\($0)", count: 64) }
        var disagreements: [String] = []
        for _ in 0..<5_000 {
            let tags = (0..<Int.random(in: 0...5, using: &random)).map { _ -> [String] in
                let tag = [names.randomElement(using: &random) ?? "t", values.randomElement(using: &random) ?? "v0"]
                return Bool.random(using: &random) ? tag + ["extra"] : (Int.random(in: 0..<8, using: &random) == 0 ? [tag[0]] : tag)
            }
            let event = NostrEvent(
                id: ids.randomElement(using: &random) ?? ids[0], pubkey: ids.randomElement(using: &random) ?? ids[0],
                created_at: Int64.random(in: 0...10, using: &random), kind: Int.random(in: 0...3, using: &random),
                tags: tags, content: "", sig: "")
            var filter = NostrFilter()
            if Bool.random(using: &random) { filter.ids = Array(ids.shuffled(using: &random).prefix(Int.random(in: 0...2, using: &random))) }
            if Bool.random(using: &random) { filter.authors = Array(ids.shuffled(using: &random).prefix(Int.random(in: 1...2, using: &random))) }
            if Bool.random(using: &random) { filter.kinds = [Int.random(in: 0...3, using: &random)] }
            if Bool.random(using: &random) { filter.since = Int64.random(in: 0...10, using: &random) }
            if Bool.random(using: &random) { filter.until = Int64.random(in: 0...10, using: &random) }
            for _ in 0..<Int.random(in: 0...2, using: &random) {
                filter.tags[names.randomElement(using: &random) ?? "t"] = Array(
                    values.shuffled(using: &random).prefix(Int.random(in: 0...3, using: &random)))
            }
            if CompiledFilter(filter).matches(MatchableEvent(event)) != Self.reference(filter, event) {
                disagreements.append("\(filter) vs \(event.tags), kind \(event.kind), at \(event.created_at)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test("2,000 tags against 1,000 values: found when one value is shared, not found otherwise")
    func wideShapes() {
        let tags = (0..<2_000).map { ["t", "tag-\($0)"] }
        let event = NostrEvent(
            id: String(repeating: "a", count: 64), pubkey: String(repeating: "b", count: 64), created_at: 1, kind: 1,
            tags: tags, content: "", sig: "")
        let prepared = MatchableEvent(event)
        let missing = CompiledFilter(NostrFilter(tags: ["t": (0..<1_000).map { "other-\($0)" }]))
        let present = CompiledFilter(NostrFilter(tags: ["t": (0..<999).map { "other-\($0)" } + ["tag-1999"]]))
        #expect(!missing.matches(prepared))
        #expect(present.matches(prepared))
    }
}
