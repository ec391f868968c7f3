import WharfRuntime

/// What one routing request may ask for and what one answer may hold, so that no request makes a replica
/// trap, hold an unbounded result in memory or write a label PostgreSQL's index cannot take. README "Limits".
public struct RoutingLimits: Sendable, Equatable {
    /// Queries in one Search or List (and labels in one legacy List), before de-duplication.
    public var maximumQueries: Int
    /// Results one Search or List answers at most: `limit` 0 (upstream: unlimited) means this many, a larger
    /// `limit` is lowered to it; also what is read from each peer's answer.
    public var maximumResults: Int
    /// Bytes of one query value or requested label.
    public static let maximumQueryBytes = 1024
    /// Bytes of one record label (a GIN key must fit a third of a PostgreSQL page) and labels per record,
    /// checked at Publish and on announcements.
    public static let maximumLabelBytes = 1024
    public static let maximumLabelsPerRecord = 4096
    /// Addresses of one announcing peer.
    public static let maximumPeerAddresses = 16

    public init(maximumQueries: Int = 32, maximumResults: Int = 10_000) {
        self.maximumQueries = maximumQueries
        self.maximumResults = maximumResults
    }

    public init(reader: EnvironmentReader) {
        // The resident index scores a record's matched queries in one byte: fewer than 255 queries.
        self.init(
            maximumQueries: reader.int("WHARF_ROUTING_MAX_QUERIES", default: 32, range: 1...254),
            maximumResults: reader.int("WHARF_ROUTING_MAX_RESULTS", default: 10_000, range: 1...1_000_000))
    }

    /// The number of results to answer for a client's `limit` (0 = as many as allowed).
    func effectiveLimit(_ requested: UInt32) -> Int {
        requested == 0 ? maximumResults : min(Int(requested), maximumResults)
    }

    /// Refuses a request with too many or too long query values.
    func check(queryValues values: [String], what: String) throws(RoutingError) {
        guard values.count <= maximumQueries else {
            throw .tooManyQueries(what: what, count: values.count, maximum: maximumQueries)
        }
        if let long = values.first(where: { $0.utf8.count > Self.maximumQueryBytes }) {
            throw .queryTooLong(what: what, bytes: long.utf8.count, maximum: Self.maximumQueryBytes)
        }
        guard PostgresText.canStoreAll(values) else { throw .nulInText(what: "\(what) query value") }
    }

    /// The problem with a record's labels, if PostgreSQL could not index them or they are unreasonably many.
    static func labelProblem(_ labels: [String]) -> String? {
        if labels.count > maximumLabelsPerRecord {
            return "\(labels.count) labels; at most \(maximumLabelsPerRecord) per record"
        }
        if let long = labels.first(where: { $0.utf8.count > maximumLabelBytes }) {
            return "a label of \(long.utf8.count) bytes; at most \(maximumLabelBytes)"
        }
        if !PostgresText.canStoreAll(labels) { return "a label with a NUL character (U+0000)" }
        return nil
    }
}
