/// The in-memory storage: items sorted once, with prefix sums of their ids, so that the fingerprint of any
/// range is one 256-bit subtraction and one SHA-256 (the reference's vector storage re-adds the range).
/// Built from any source: a vector of items, or a PostgreSQL snapshot of the events a filter selects.
public struct SortedItems: NegentropyStorage {
    public private(set) var items: [NegentropyItem]
    /// `prefixSums[i]` is the sum of the ids of `items[0..<i]`.
    private var prefixSums: [IDSum]

    /// Sorts `items`; a repeated item is an error, as in the reference.
    public init(_ items: [NegentropyItem]) throws {
        try self.init(sorted: items.sorted())
    }

    /// Items already in protocol order (a database ordered them); checked, not re-sorted.
    public init(sorted items: [NegentropyItem]) throws {
        var sums: [IDSum] = []
        sums.reserveCapacity(items.count + 1)
        var running = IDSum()
        sums.append(running)
        for index in items.indices {
            if index > 0 {
                if items[index] == items[index - 1] { throw NegentropyError.duplicateItem }
                if items[index] < items[index - 1] { throw NegentropyError("items are not sorted") }
            }
            running.add(items[index].id)
            sums.append(running)
        }
        self.items = items
        prefixSums = sums
    }

    public var count: Int { items.count }

    public func item(at index: Int) -> NegentropyItem { items[index] }

    public func fingerprint(of range: Range<Int>) -> [UInt8] {
        prefixSums[range.upperBound].subtracting(prefixSums[range.lowerBound]).fingerprint(count: range.count)
    }

    public func contains(_ item: NegentropyItem) -> Bool {
        let index = lowerBound(of: Bound(item), in: 0..<count)
        return index < count && items[index] == item
    }
}
