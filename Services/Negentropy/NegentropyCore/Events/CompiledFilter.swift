/// A filter prepared for matching many events: every list becomes a set, so matching an event costs its tag
/// count, not tags × values (a subscription with thousands of values against an event with thousands of tags
/// would otherwise take seconds of a core).
struct CompiledFilter: Sendable {
    let filter: NostrFilter
    private let ids: Set<String>?
    private let authors: Set<String>?
    private let kinds: Set<Int>?
    private let tags: [String: Set<String>]

    init(_ filter: NostrFilter) {
        self.filter = filter
        ids = filter.ids.map(Set.init)
        authors = filter.authors.map(Set.init)
        kinds = filter.kinds.map(Set.init)
        tags = filter.tags.mapValues(Set.init)
    }

    func matches(_ event: MatchableEvent) -> Bool {
        let fields = event.event
        if let ids, !ids.contains(fields.id) { return false }
        if let authors, !authors.contains(fields.pubkey) { return false }
        if let kinds, !kinds.contains(fields.kind) { return false }
        if let since = filter.since, fields.created_at < since { return false }
        if let until = filter.until, fields.created_at > until { return false }
        for (name, wanted) in tags {
            guard let held = event.tagValues[name] else { return false }
            // Iterate the smaller side, look up in the larger.
            let found = held.count <= wanted.count ? held.contains(where: wanted.contains) : wanted.contains(where: held.contains)
            if !found { return false }
        }
        return true
    }
}

/// An accepted event as live subscriptions see it: its JSON written once and its indexed tags as sets, built
/// once per event for every connection of the replica.
struct MatchableEvent: Sendable {
    let event: NostrEvent
    let json: String
    let tagValues: [String: Set<String>]

    init(_ event: NostrEvent) {
        self.event = event
        json = String(decoding: event.json, as: UTF8.self)
        var values: [String: Set<String>] = [:]
        for tag in event.indexedTags { values[tag.name, default: []].insert(tag.value) }
        tagValues = values
    }

    /// Bytes this event holds while it waits for a connection (its JSON dominates).
    var bytes: Int { json.utf8.count + 256 }
}

extension NostrFilter {
    public func matches(_ event: NostrEvent) -> Bool { CompiledFilter(self).matches(MatchableEvent(event)) }
}
