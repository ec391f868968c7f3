import Synchronization

/// This replica's copy of every published record's match keys, as posting lists in memory, so that a search
/// is scored by merging lists instead of intersecting GIN posting lists in PostgreSQL (~9 ms for two common
/// keys at a million records; the lists here take about 1 ms).
///
/// It is a cache of `routing.records`, never the truth: `LabelIndex` loads it, catches it up from the rows
/// committed since (by transaction id) before each search, and checks every record it picks against the table,
/// so a record deleted on another replica is dropped when it is next picked. A record's keys never change
/// (a CID names its content), so a record is only ever added or removed.
final class ResidentKeyIndex: Sendable {
    /// A picked record: its CID and how many of the searched keys it holds.
    struct Candidate: Equatable {
        var cid: String
        var score: Int
    }

    private struct State {
        var cids: [String] = []
        var alive: [Bool] = []
        var ordinals: [String: Int32] = [:]
        /// Key → ordinals of the records holding it, ascending (records are appended).
        var postings: [String: [Int32]] = [:]
        var liveCount = 0
        /// Rows of transactions with ids below this are in the index; nil until the first load completed.
        var horizon: Int64?
    }

    private let state = Mutex(State())

    /// Searches with a larger `limit` (or none) go to PostgreSQL: every picked record is read back from it.
    static let maximumPage = 1000

    /// Whether the first load completed (until then searches go to PostgreSQL).
    var isLoaded: Bool { state.withLock { $0.horizon != nil } }
    var horizon: Int64? { state.withLock { $0.horizon } }
    var count: Int { state.withLock { $0.liveCount } }

    /// Adds records (already present ones are left as they are) and, when given, moves the horizon.
    func insert(_ records: some Sequence<(cid: String, keys: [String])>, horizon: Int64? = nil) {
        state.withLock { state in
            for record in records { Self.insert(record.cid, keys: record.keys, into: &state) }
            if let horizon { state.horizon = horizon }
        }
    }

    func remove(_ cids: some Sequence<String>) {
        state.withLock { state in
            for cid in cids {
                guard let ordinal = state.ordinals[cid], state.alive[Int(ordinal)] else { continue }
                state.alive[Int(ordinal)] = false
                state.liveCount -= 1
            }
        }
    }

    /// Drops everything (a reload starts from nothing).
    func reset() { state.withLock { $0 = State() } }

    private static func insert(_ cid: String, keys: [String], into state: inout State) {
        if let ordinal = state.ordinals[cid] {
            // Removed and published again: its keys are the same, its postings are still there.
            if !state.alive[Int(ordinal)] {
                state.alive[Int(ordinal)] = true
                state.liveCount += 1
            }
            return
        }
        guard state.cids.count < Int(Int32.max) else { return }
        let ordinal = Int32(state.cids.count)
        state.cids.append(cid)
        state.alive.append(true)
        state.ordinals[cid] = ordinal
        state.liveCount += 1
        for key in Set(keys) { state.postings[key, default: []].append(ordinal) }
    }

    /// Up to `limit` live records holding at least `required` (≥ 1) of `keys` (distinct), best score first;
    /// within a score, in the order they were added.
    /// Scores are counted in one byte: with 255 keys or more (callers are bounded by `RoutingLimits`) there
    /// is no answer here, and an empty one for a `required` or `limit` below 1.
    func candidates(keys: [String], required: Int, limit: Int) -> [Candidate]? {
        guard keys.count < Int(UInt8.max) else { return nil }
        guard required >= 1, limit >= 1, !keys.isEmpty else { return [] }
        return state.withLock { state in
            let lists = keys.map { state.postings[$0] ?? [] }
            if lists.count == 1 {
                var found: [Candidate] = []
                for ordinal in lists[0] where state.alive[Int(ordinal)] {
                    found.append(Candidate(cid: state.cids[Int(ordinal)], score: 1))
                    if found.count == limit { break }
                }
                return found
            }
            // How many of the keys each record holds, then one bucket per score, each filled up to `limit`.
            var scores = [UInt8](repeating: 0, count: state.cids.count)
            for list in lists { for ordinal in list { scores[Int(ordinal)] &+= 1 } }
            var buckets = [[Int32]](repeating: [], count: keys.count + 1)
            for list in lists {
                for ordinal in list {
                    let score = Int(scores[Int(ordinal)])
                    guard score > 0 else { continue }  // already seen through an earlier list
                    scores[Int(ordinal)] = 0
                    if score >= required && buckets[score].count < limit && state.alive[Int(ordinal)] {
                        buckets[score].append(ordinal)
                    }
                }
            }
            var found: [Candidate] = []
            for score in stride(from: keys.count, through: required, by: -1) {
                for ordinal in buckets[score].sorted() {
                    found.append(Candidate(cid: state.cids[Int(ordinal)], score: score))
                    if found.count == limit { return found }
                }
            }
            return found
        }
    }
}
