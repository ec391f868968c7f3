/// A sorted set of items that changes one item at a time and is read through immutable snapshots: what a relay
/// keeps resident so that a reconciliation reads no database and any number of sessions share one copy.
///
/// Items live in blocks of at most `maximumBlockSize`, each an immutable object with its count and id sum. A
/// change copies only the blocks it touches (a batch touching one block copies it once); a snapshot shares every
/// block and adds the running count and sum before each block, so a range's fingerprint costs two binary searches
/// and at most half a block of additions at each end — no rebuild per insert or delete, no copy of the set.
/// About 40 bytes an item plus 50 bytes a block.
public struct ItemIndex: Sendable {
    public static let maximumBlockSize = 512
    /// Blocks are loaded this full, leaving room for inserts before the first split.
    static let loadedBlockSize = 384
    /// A block smaller than this is merged into a neighbour when the two fit in one.
    static let minimumBlockSize = 64

    private var blocks: [ItemBlock]
    public private(set) var count: Int

    public init() {
        blocks = []
        count = 0
    }

    /// From items already in protocol order; a repeated or misordered item is an error.
    public init(sorted items: [NegentropyItem]) throws {
        for index in items.indices.dropFirst() {
            if items[index] == items[index - 1] { throw NegentropyError.duplicateItem }
            if items[index] < items[index - 1] { throw NegentropyError("items are not sorted") }
        }
        var blocks: [ItemBlock] = []
        blocks.reserveCapacity(items.count / Self.loadedBlockSize + 1)
        var start = 0
        while start < items.count {
            let end = min(start + Self.loadedBlockSize, items.count)
            blocks.append(ItemBlock(Array(items[start..<end])))
            start = end
        }
        self.blocks = blocks
        count = items.count
    }

    public func contains(_ item: NegentropyItem) -> Bool {
        guard !blocks.isEmpty else { return false }
        let block = blocks[blockIndex(for: item)]
        return block.position(of: item).found
    }

    /// Adds `item`; false when it was already there.
    @discardableResult
    public mutating func insert(_ item: NegentropyItem) -> Bool {
        apply(inserting: [item], removing: []) > 0
    }

    /// Removes `item`; false when it was not there.
    @discardableResult
    public mutating func remove(_ item: NegentropyItem) -> Bool {
        apply(inserting: [], removing: [item]) < 0
    }

    /// Applies a batch of changes, each block touched copied once; returns the change in count. An item both
    /// inserted and removed in one batch ends up removed.
    @discardableResult
    public mutating func apply(inserting: [NegentropyItem], removing: [NegentropyItem]) -> Int {
        let removed = Set(removing)
        var changes: [(item: NegentropyItem, insert: Bool)] = inserting.filter { !removed.contains($0) }.map { ($0, true) }
        changes += removed.map { ($0, false) }
        guard !changes.isEmpty else { return 0 }
        changes.sort { $0.item < $1.item }
        if blocks.isEmpty { blocks = [ItemBlock([])] }

        let before = count
        // Each run of changes goes to the block it sorts into (the last whose first item is not after it); only
        // those blocks are rebuilt, so a change costs its block, not the set.
        var replacements: [(index: Int, blocks: [ItemBlock])] = []
        var smallBlocks = false
        var start = 0
        while start < changes.count {
            let target = blockIndex(for: changes[start].item)
            let next = target + 1 < blocks.count ? blocks[target + 1].items.first : nil
            var end = start + 1
            while end < changes.count, next.map({ changes[end].item < $0 }) ?? true { end += 1 }
            let merged = blocks[target].merging(changes[start..<end])
            count += merged.count - blocks[target].items.count
            let rebuilt = ItemBlock.split(merged, maximum: Self.maximumBlockSize)
            smallBlocks = smallBlocks || rebuilt.contains { $0.items.count < Self.minimumBlockSize }
            replacements.append((target, rebuilt))
            start = end
        }
        for replacement in replacements.reversed() {
            blocks.replaceSubrange(replacement.index...replacement.index, with: replacement.blocks)
        }
        if smallBlocks { blocks = Self.mergingSmall(blocks) }
        return count - before
    }

    /// A snapshot of the set as it is now: immutable, shared, readable while the index changes.
    public var snapshot: ItemIndexSnapshot { ItemIndexSnapshot(blocks: blocks, count: count) }

    /// The index of the block `item` belongs in: the last whose first item is not after it (0 if none).
    private func blockIndex(for item: NegentropyItem) -> Int {
        var low = 0, high = blocks.count
        while low < high {
            let middle = low + (high - low) / 2
            if let first = blocks[middle].items.first, first <= item { low = middle + 1 } else { high = middle }
        }
        return max(0, low - 1)
    }

    /// Drops empty blocks and merges a small block into its successor when both fit in one.
    private static func mergingSmall(_ blocks: [ItemBlock]) -> [ItemBlock] {
        var result: [ItemBlock] = []
        result.reserveCapacity(blocks.count)
        for block in blocks where !block.items.isEmpty {
            if let last = result.last, last.items.count < minimumBlockSize || block.items.count < minimumBlockSize,
                last.items.count + block.items.count <= maximumBlockSize
            {
                result[result.count - 1] = ItemBlock(last.items + block.items)
            } else {
                result.append(block)
            }
        }
        return result
    }
}

/// One block of an `ItemIndex`: sorted items and their id sum. Never changed once made.
final class ItemBlock: Sendable {
    let items: [NegentropyItem]
    let sum: IDSum
    /// `chunkSums[c]` is the id sum of `items[0 ..< c * chunk]`: a prefix sum inside the block costs at most
    /// `chunk - 1` additions (about one byte an item).
    private let chunkSums: [IDSum]
    static let chunk = 32

    init(_ items: [NegentropyItem]) {
        self.items = items
        var sum = IDSum()
        var chunkSums: [IDSum] = []
        chunkSums.reserveCapacity(items.count / Self.chunk + 1)
        for (index, item) in items.enumerated() {
            if index % Self.chunk == 0 { chunkSums.append(sum) }
            sum.add(item.id)
        }
        if items.count % Self.chunk == 0 { chunkSums.append(sum) }
        self.sum = sum
        self.chunkSums = chunkSums
    }

    /// The id sum of `items[0 ..< offset]`.
    func prefixSum(_ offset: Int) -> IDSum {
        let chunk = offset / Self.chunk
        var sum = chunkSums[chunk]
        for index in (chunk * Self.chunk)..<offset { sum.add(items[index].id) }
        return sum
    }

    /// Where `item` is, or would be inserted.
    func position(of item: NegentropyItem) -> (index: Int, found: Bool) {
        var low = 0, high = items.count
        while low < high {
            let middle = low + (high - low) / 2
            if items[middle] < item { low = middle + 1 } else { high = middle }
        }
        return (low, low < items.count && items[low] == item)
    }

    /// This block's items with sorted `changes` applied (inserts of present items and removals of absent ones
    /// change nothing).
    func merging(_ changes: ArraySlice<(item: NegentropyItem, insert: Bool)>) -> [NegentropyItem] {
        var merged: [NegentropyItem] = []
        merged.reserveCapacity(items.count + changes.count)
        var index = 0
        for change in changes {
            while index < items.count, items[index] < change.item {
                merged.append(items[index])
                index += 1
            }
            let present = index < items.count && items[index] == change.item
            if change.insert {
                if merged.last != change.item { merged.append(change.item) }  // an item inserted twice in one batch
                if present { index += 1 }
            } else if present {
                index += 1
            }
        }
        merged.append(contentsOf: items[index...])
        return merged
    }

    /// `items` cut into blocks of at most `maximum`, evenly.
    static func split(_ items: [NegentropyItem], maximum: Int) -> [ItemBlock] {
        guard items.count > maximum else { return [ItemBlock(items)] }
        let pieces = (items.count + maximum - 1) / maximum
        var blocks: [ItemBlock] = []
        var start = 0
        for piece in 0..<pieces {
            let end = items.count * (piece + 1) / pieces
            blocks.append(ItemBlock(Array(items[start..<end])))
            start = end
        }
        return blocks
    }

    /// The sum of the ids of `items[range]`.
    func sum(of range: Range<Int>) -> IDSum {
        if range.count < Self.chunk {
            var sum = IDSum()
            for index in range { sum.add(items[index].id) }
            return sum
        }
        return prefixSum(range.upperBound).subtracting(prefixSum(range.lowerBound))
    }
}

/// An `ItemIndex` as it was when taken, or a window of it (a time range, the newest `limit`): what sessions
/// reconcile against. Items are addressed by their position in the window.
public struct ItemIndexSnapshot: NegentropyStorage {
    private let blocks: [ItemBlock]
    /// `starts[b]` is the position of block `b`'s first item; `starts[blocks.count]` is the whole count.
    private let starts: [Int]
    /// `sums[b]` is the id sum of the blocks before `b`.
    private let sums: [IDSum]
    /// `firstBlock[p >> bucketShift]` is the block holding position `p` rounded down to its bucket: the search
    /// for a position's block starts there and moves a block or two (the reconciler reads items one by one).
    private let firstBlock: [Int32]
    private static let bucketShift = 8
    /// The positions in the whole set this snapshot shows.
    public let window: Range<Int>

    init(blocks: [ItemBlock], count: Int) {
        self.blocks = blocks
        var starts: [Int] = [], sums: [IDSum] = []
        starts.reserveCapacity(blocks.count + 1)
        sums.reserveCapacity(blocks.count + 1)
        var position = 0, sum = IDSum()
        for block in blocks {
            starts.append(position)
            sums.append(sum)
            position += block.items.count
            sum.add(block.sum)
        }
        starts.append(position)
        sums.append(sum)
        var firstBlock: [Int32] = []
        firstBlock.reserveCapacity(position >> Self.bucketShift + 1)
        var block = 0
        for bucket in 0...(position >> Self.bucketShift) {
            let bucketStart = bucket << Self.bucketShift
            while block + 1 < blocks.count, starts[block + 1] <= bucketStart { block += 1 }
            firstBlock.append(Int32(clamping: block))
        }
        self.starts = starts
        self.sums = sums
        self.firstBlock = firstBlock
        window = 0..<position
    }

    private init(_ base: ItemIndexSnapshot, window: Range<Int>) {
        blocks = base.blocks
        starts = base.starts
        sums = base.sums
        firstBlock = base.firstBlock
        self.window = window
    }

    public var count: Int { window.count }

    public func item(at index: Int) -> NegentropyItem {
        let position = window.lowerBound + index
        let block = blockIndex(containing: position)
        return blocks[block].items[position - starts[block]]
    }

    public func fingerprint(of range: Range<Int>) -> [UInt8] {
        guard !range.isEmpty else { return IDSum().fingerprint(count: 0) }
        let lower = window.lowerBound + range.lowerBound, upper = window.lowerBound + range.upperBound
        let first = blockIndex(containing: lower)
        let sum: IDSum
        if upper <= starts[first + 1] {
            sum = blocks[first].sum(of: (lower - starts[first])..<(upper - starts[first]))
        } else {
            sum = prefixSum(upper).subtracting(prefixSum(lower))
        }
        return sum.fingerprint(count: range.count)
    }

    /// The items from `since` to `until` (inclusive timestamps), the newest `limit` of them when given.
    public func window(since: UInt64 = 0, until: UInt64 = .max, limit: Int? = nil) -> ItemIndexSnapshot {
        let whole = ItemIndexSnapshot(self, window: 0..<(starts.last ?? 0))
        let lower = whole.lowerBound(of: Bound(timestamp: since), in: 0..<whole.count)
        let upper =
            until == .max ? whole.count : whole.lowerBound(of: Bound(timestamp: until + 1), in: lower..<whole.count)
        let start = limit.map { max(lower, upper - max(0, $0)) } ?? lower
        return ItemIndexSnapshot(self, window: start..<upper)
    }

    /// The items of the window, in order (for tests and tools).
    public var items: [NegentropyItem] { (0..<count).map(item(at:)) }

    /// The sum of the ids before position `position` of the whole set.
    private func prefixSum(_ position: Int) -> IDSum {
        if position >= (starts.last ?? 0) { return sums.last ?? IDSum() }
        let block = blockIndex(containing: position)
        let offset = position - starts[block]
        return sums[block].adding(blocks[block].prefixSum(offset))
    }

    /// The block holding position `position` of the whole set (the last block for the end position).
    private func blockIndex(containing position: Int) -> Int {
        let bucket = position >> Self.bucketShift
        var block = bucket < firstBlock.count ? Int(firstBlock[bucket]) : max(0, blocks.count - 1)
        while block + 1 < blocks.count, starts[block + 1] <= position { block += 1 }
        return block
    }
}
