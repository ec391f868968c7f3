import CoreMetrics
import NegentropyProtocol
import Synchronization

/// A session's set: read from PostgreSQL for this session alone, or a resident index's snapshot that every
/// session of the filter shares.
enum ReconciliationSet: Sendable {
    case database(Negentropy<SortedItems>)
    case resident(Negentropy<ItemIndexSnapshot>)

    var count: Int {
        switch self {
        case .database(let negentropy): negentropy.storage.count
        case .resident(let negentropy): negentropy.storage.count
        }
    }

    /// Items this session holds in memory of its own (a shared snapshot costs it none).
    var heldItems: Int {
        switch self {
        case .database(let negentropy): negentropy.storage.count
        case .resident: 0
        }
    }

    /// `differences`: whether the answer carries the have/need ids seen in the peer's id lists (the gRPC
    /// session API returns them; a relay's NEG-MSG does not).
    func respond(to message: [UInt8], differences: Bool) -> NegentropySessions.Answer {
        switch self {
        case .database(let negentropy): Self.respond(negentropy, to: message, differences: differences)
        case .resident(let negentropy): Self.respond(negentropy, to: message, differences: differences)
        }
    }

    private static func respond<Storage>(
        _ negentropy: Negentropy<Storage>, to message: [UInt8], differences: Bool
    ) -> NegentropySessions.Answer {
        do {
            let step = try negentropy.reconcileAsResponder(message, differences: differences)
            return NegentropySessions.Answer(message: step.reply, haveIDs: step.have, needIDs: step.need, complete: step.reply.count <= 1)
        } catch {
            return NegentropySessions.Answer(error: "reconcile failed: \(error)")
        }
    }
}

/// How many session sets were read from a resident index and how many from PostgreSQL, exported as
/// `wharf_negentropy_reconciliation_sets_total{source}`: an indexed filter must never show up as `database`.
final class SetSourceCounts: Sendable {
    enum Source: String {
        case index
        case database
    }

    private let counts_ = Mutex((index: 0, database: 0))
    private let counters: [Source: Counter]

    init(metrics: (any MetricsFactory)?) {
        var counters: [Source: Counter] = [:]
        if let metrics {
            for source in [Source.index, .database] {
                counters[source] = Counter(
                    label: "wharf_negentropy_reconciliation_sets_total", dimensions: [("source", source.rawValue)], factory: metrics)
            }
        }
        self.counters = counters
    }

    func count(_ source: Source) {
        counts_.withLock { counts in
            switch source {
            case .index: counts.index += 1
            case .database: counts.database += 1
            }
        }
        counters[source]?.increment()
    }

    var counts: (fromIndex: Int, fromDatabase: Int) { counts_.withLock { ($0.index, $0.database) } }
}
