/// How big the filters of one client may be: each filter's values (ids, authors, kinds and `#x` values
/// together) are counted, and the parsed size of every filter a connection holds open is charged against a
/// budget (a filter in memory costs several times its JSON bytes). Beyond either bound the REQ or NEG-OPEN is
/// refused with `blocked:` (README "Limits").
public struct FilterBounds: Sendable, Equatable {
    /// Values one filter may list.
    public var maximumValues = 1_000
    /// Parsed size of the filters one connection may hold open at once (the default holds three filters at
    /// the per-filter bounds: 1,000 values of 1 KiB parse to about 1.1 MB).
    public var maximumBytesPerConnection = 4 << 20

    public init() {}

    /// Why `filter` is refused, or nil.
    public func refusal(of filter: NostrFilter) -> FilterError? {
        let values = filter.valueCount
        if values > maximumValues {
            return FilterError("blocked: a filter lists \(values) values; at most \(maximumValues) (ids, authors, kinds and tag values together)")
        }
        for (name, list) in filter.tags {
            if let long = list.first(where: { $0.utf8.count > EventRules.maximumIndexedValueBytes }) {
                return FilterError("blocked: a #\(name) value of \(long.utf8.count) bytes; at most \(EventRules.maximumIndexedValueBytes)")
            }
            // No stored event is found by such a value (they are not indexed), and PostgreSQL cannot compare it.
            if name.utf8.contains(0) || list.contains(where: { $0.utf8.contains(0) }) {
                return FilterError("invalid: a #\(name.utf8.contains(0) ? "?" : name) value contains a NUL character")
            }
        }
        return nil
    }
}

extension NostrFilter {
    /// Values the filter lists, in all its conditions.
    public var valueCount: Int {
        (ids?.count ?? 0) + (authors?.count ?? 0) + (kinds?.count ?? 0) + tags.values.reduce(0) { $0 + $1.count }
    }

    /// What the filter costs held in memory, parsed and compiled for matching: each value's bytes, plus the
    /// string, array and hash-set entries that hold it (measured about 100 bytes per short value).
    public var parsedBytes: Int {
        let perValue = 112
        func strings(_ list: [String]?) -> Int { (list ?? []).reduce(0) { $0 + perValue + $1.utf8.count } }
        return 256 + strings(ids) + strings(authors) + (kinds?.count ?? 0) * 24
            + tags.reduce(0) { $0 + perValue + strings($1.value) }
    }
}
