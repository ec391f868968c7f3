import Foundation
import WharfEncoding

/// A filter a replica keeps a resident index of (`WHARF_NEGENTROPY_INDEXES`, as strfry's `negentropy add`): its
/// authors, kinds and tags; time ranges and limits are windows read from the index, never part of it. The empty
/// filter, every stored event, is always indexed.
public struct IndexDefinition: Sendable, Equatable, CustomStringConvertible {
    public let authors: Set<String>?
    public let kinds: Set<Int>?
    public let tags: [String: Set<String>]

    public static let everything = IndexDefinition(filter: NostrFilter())

    /// The definition of an operator's filter; refused when it names ids, a time range or a limit (a NEG-OPEN
    /// chooses those per session).
    public init(_ filter: NostrFilter) throws(FilterError) {
        guard filter.ids == nil, filter.since == nil, filter.until == nil, filter.limit == nil else {
            throw FilterError("invalid: an indexed filter has only authors, kinds and tags (ids, since, until and limit are chosen per session)")
        }
        guard filter.isSatisfiable else { throw FilterError("invalid: an indexed filter must be able to match an event") }
        self.init(filter: filter)
    }

    private init(filter: NostrFilter) {
        authors = filter.authors.map(Set.init)
        kinds = filter.kinds.map(Set.init)
        tags = filter.tags.mapValues(Set.init)
    }

    /// Whether `filter` selects this index's events (its time range and limit aside): such a NEG-OPEN is
    /// answered from the index.
    func answers(_ filter: NostrFilter) -> Bool {
        filter.ids == nil && filter.isSatisfiable && Self(filter: filter) == self
    }

    /// Whether a stored event belongs in this index (`tagKeys` as stored: `name:value` of its indexed tags).
    func contains(pubkey: Data, kind: Int, tagKeys: [String]) -> Bool {
        if let authors, !authors.contains(pubkey.hexString) { return false }
        if let kinds, !kinds.contains(kind) { return false }
        for (name, wanted) in tags {
            let found = tagKeys.contains { key in
                guard let colon = key.firstIndex(of: ":"), key[..<colon] == name else { return false }
                return wanted.contains(String(key[key.index(after: colon)...]))
            }
            if !found { return false }
        }
        return true
    }

    /// Whether matching needs the event's fields (every index but the whole set's).
    var needsFields: Bool { self != .everything }

    public var description: String {
        var parts: [String] = []
        if let authors { parts.append("\(authors.count) authors") }
        if let kinds { parts.append("kinds \(kinds.sorted().map(String.init).joined(separator: ","))") }
        for (name, values) in tags.sorted(by: { $0.key < $1.key }) { parts.append("#\(name) (\(values.count))") }
        return parts.isEmpty ? "all events" : parts.joined(separator: ", ")
    }
}
