import Foundation
import Logging
import NegentropyProtocol
import PostgresNIO
import RecordIdentity

/// The store's CID set as negentropy items (timestamp 0, the CID's digest), kept in memory once a
/// reconciliation asked for it and brought up to date from `store.changes` before each use: a re-sync of a
/// million records then costs the changes since the last one, not a reload of the table (which takes
/// seconds). Changes are read with an overlap (`overlap`) because a change row can become visible after a
/// later-numbered one, and presence is taken from `store.records` itself, so replaying a change is harmless;
/// the whole set is reloaded every `reloadInterval` all the same. About 80 bytes a record while held.
actor RecordSetSnapshot {
    static let overlap: TimeInterval = 5
    static let reloadInterval: Duration = .seconds(600)
    /// Changed CIDs read per refresh at most; beyond it the set is reloaded whole (cheaper than merging).
    static let maximumIncrementalChanges = 50_000

    private let client: PostgresClient
    private let logger: Logger
    private let buckets: Int
    private let frameSizeLimit: Int
    private var items: [NegentropyItem] = []
    private var current: Negentropy<SortedItems>?
    /// Changes at or after this database time may not be in `items` yet.
    private var horizon = Date.distantPast
    private var loadedAt: ContinuousClock.Instant?

    init(client: PostgresClient, logger: Logger, buckets: Int, frameSizeLimit: Int) {
        self.client = client
        self.logger = logger
        self.buckets = buckets
        self.frameSizeLimit = frameSizeLimit
    }

    /// The set as it is now.
    func negentropy() async throws -> Negentropy<SortedItems> {
        let now = try await databaseNow()
        if let current, let loadedAt, ContinuousClock.now - loadedAt < Self.reloadInterval {
            let since = horizon.addingTimeInterval(-Self.overlap)
            let changed = try await changedCIDs(since: since)
            guard !changed.isEmpty else {
                horizon = now
                return current
            }
            if changed.count < Self.maximumIncrementalChanges {
                try await apply(changed)
                horizon = now
                return try rebuild()
            }
        }
        try await reload()
        horizon = now
        return try rebuild()
    }

    private func databaseNow() async throws -> Date {
        let rows = try await client.query("SELECT now()", logger: logger)
        return try await rows.decode(Date.self).first(where: { _ in true }) ?? Date()
    }

    private func changedCIDs(since: Date) async throws -> [String] {
        let rows = try await client.query(
            "SELECT DISTINCT cid FROM store.changes WHERE at >= \(since) LIMIT \(Self.maximumIncrementalChanges)", logger: logger)
        return try await rows.decode(String.self).reduce(into: [String]()) { $0.append($1) }
    }

    /// Brings the changed CIDs in line with `store.records`: present ones are added, absent ones removed.
    private func apply(_ changed: [String]) async throws {
        let rows = try await client.query("SELECT cid FROM store.records WHERE cid = ANY(\(changed))", logger: logger)
        let present = Set(try await rows.decode(String.self).reduce(into: [String]()) { $0.append($1) })
        var removed = Set<EventID>()
        var added: [NegentropyItem] = []
        for cid in changed {
            guard let id = Self.id(of: cid) else { continue }
            if present.contains(cid) { added.append(NegentropyItem(timestamp: 0, id: id)) } else { removed.insert(id) }
        }
        var merged = removed.isEmpty ? items : items.filter { !removed.contains($0.id) }
        let new = added.filter { !Self.contains($0, sortedItems: merged) }
        guard !new.isEmpty || merged.count != items.count else { return }
        merged += new
        merged.sort()
        items = merged
    }

    private func reload() async throws {
        let rows = try await client.query("SELECT cid FROM store.records", logger: logger)
        var loaded: [NegentropyItem] = []
        for try await cid in rows.decode(String.self) {
            if let id = Self.id(of: cid) { loaded.append(NegentropyItem(timestamp: 0, id: id)) }
        }
        loaded.sort()
        items = loaded
        loadedAt = .now
        logger.debug("record set loaded for reconciliation", metadata: ["records": "\(loaded.count)"])
    }

    private func rebuild() throws -> Negentropy<SortedItems> {
        let built = try Negentropy(storage: try SortedItems(sorted: items), frameSizeLimit: frameSizeLimit, buckets: buckets)
        current = built
        return built
    }

    private static func contains(_ item: NegentropyItem, sortedItems: [NegentropyItem]) -> Bool {
        var low = 0, high = sortedItems.count
        while low < high {
            let middle = (low + high) / 2
            if sortedItems[middle] < item { low = middle + 1 } else { high = middle }
        }
        return low < sortedItems.count && sortedItems[low] == item
    }

    private static func id(of cid: String) -> EventID? {
        RecordCID.digest(of: cid).flatMap { EventID(bytes: $0) }
    }
}
