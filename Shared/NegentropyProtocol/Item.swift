/// One element of a reconciled set: Nostr's `created_at` and event id. Items sort by timestamp, then id.
public struct NegentropyItem: Hashable, Comparable, Sendable {
    public var timestamp: UInt64
    public var id: EventID

    public init(timestamp: UInt64, id: EventID) {
        self.timestamp = timestamp
        self.id = id
    }

    public static func < (lhs: NegentropyItem, rhs: NegentropyItem) -> Bool {
        lhs.timestamp != rhs.timestamp ? lhs.timestamp < rhs.timestamp : lhs.id < rhs.id
    }
}

/// A range boundary: a timestamp and the first `prefixLength` bytes of an id (the rest read as zeros).
/// Timestamp `UInt64.max` is infinity, the end of every set.
struct Bound: Equatable {
    var timestamp: UInt64
    var idPrefix: EventID
    var prefixLength: Int

    static let infinity = Bound(timestamp: .max, idPrefix: .zero, prefixLength: 0)

    init(timestamp: UInt64, idPrefix: EventID = .zero, prefixLength: Int = 0) {
        self.timestamp = timestamp
        self.idPrefix = idPrefix
        self.prefixLength = prefixLength
    }

    /// The bound just at `item` (its full id).
    init(_ item: NegentropyItem) {
        self.init(timestamp: item.timestamp, idPrefix: item.id, prefixLength: EventID.byteCount)
    }

    /// The shortest bound separating `previous` from `next` (next sorts after previous): the timestamp alone
    /// when they differ, else the id prefix one byte longer than the part both ids share.
    static func minimal(between previous: NegentropyItem, and next: NegentropyItem) -> Bound {
        guard next.timestamp == previous.timestamp else { return Bound(timestamp: next.timestamp) }
        var shared = 0
        while shared < EventID.byteCount, next.id.byte(at: shared) == previous.id.byte(at: shared) { shared += 1 }
        let length = min(shared + 1, EventID.byteCount)
        return Bound(
            timestamp: next.timestamp, idPrefix: EventID(padding: next.id.bytes.prefix(length)),
            prefixLength: length)
    }

    /// Whether `item` sorts before this bound (ids compare against the zero-padded prefix).
    func isAfter(_ item: NegentropyItem) -> Bool {
        item.timestamp != timestamp ? item.timestamp < timestamp : item.id < idPrefix
    }
}
