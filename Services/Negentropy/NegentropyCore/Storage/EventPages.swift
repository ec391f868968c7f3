import Foundation
import NIOCore
import PostgresNIO

/// A REQ filter's answer read from the database a page at a time, newest first: a page of keys (id, time,
/// size), then the JSON of as many of them as fit `pageBytes` (at least one). The relay sends each page
/// before it reads the next, so what it holds for a REQ is one page however many events match, and no
/// database connection waits on a client's socket.
struct EventPages: Sendable {
    struct Key: Sendable {
        var id: Data
        var createdAt: Int64
        var bytes: Int
    }

    private let store: EventStore
    private let filter: NostrFilter
    private let pageBytes: Int
    private let keysPerQuery: Int
    private var remaining: Int
    private var last: Key?
    private var waiting: ArraySlice<Key> = []

    init(store: EventStore, filter: NostrFilter, limit: Int, pageBytes: Int, keysPerQuery: Int = 1000) {
        self.store = store
        self.filter = filter
        self.pageBytes = pageBytes
        self.keysPerQuery = keysPerQuery
        remaining = filter.isSatisfiable ? max(limit, 0) : 0
    }

    /// The next page of events, or nil when the answer is complete. Each page is one transaction (its
    /// statements under the store's statement timeout): the next keys when none are waiting, then the JSON.
    mutating func next() async throws -> [EventStore.StoredEvent]? {
        while true {
            let needKeys = waiting.isEmpty
            if needKeys, remaining <= 0 { return nil }
            let requested = min(remaining, keysPerQuery)
            let (filter, after, waitingNow, pageBytes) = (self.filter, last.map { ($0.createdAt, $0.id) }, waiting, self.pageBytes)
            let (keys, chosen, found) = try await store.withStatementTimeout { [store] connection in
                var keys: [Key] = []
                var candidates = waitingNow
                if needKeys {
                    keys = try await store.keys(filter, after: after, limit: requested, on: connection)
                    candidates = keys[...]
                }
                let chosen = Self.firstPage(of: candidates, pageBytes: pageBytes)
                let found = chosen.isEmpty ? [:] : try await store.json(ids: chosen.map(\.id), on: connection)
                return (keys, chosen, found)
            }
            if needKeys {
                guard let final = keys.last else {
                    remaining = 0
                    return nil
                }
                remaining = keys.count < requested ? 0 : remaining - keys.count
                last = final
                waiting = keys[...]
            }
            waiting = waiting.dropFirst(chosen.count)
            // An event replaced or deleted since its key was read is left out.
            let page = chosen.compactMap { key in found[key.id].map { EventStore.StoredEvent(id: key.id, createdAt: key.createdAt, json: $0) } }
            if !page.isEmpty { return page }
        }
    }

    /// The keys at the front of `keys` whose JSON fits `pageBytes` (at least one).
    static func firstPage(of keys: ArraySlice<Key>, pageBytes: Int) -> [Key] {
        var chosen: [Key] = []
        var bytes = 0
        for key in keys {
            guard chosen.isEmpty || bytes + key.bytes <= pageBytes else { break }
            chosen.append(key)
            bytes += key.bytes
        }
        return chosen
    }
}

extension EventStore {
    /// Keys of the events matching `filter`, newest first (ties: lowest id first), after `after` in that order.
    func keys(_ filter: NostrFilter, after: (Int64, Data)?, limit: Int, on connection: PostgresConnection) async throws -> [EventPages.Key] {
        var (condition, bindings) = Self.condition(for: filter)
        if let (createdAt, id) = after {
            bindings.append(createdAt)
            let time = bindings.count
            bindings.append(ByteBuffer(data: id))
            condition += " AND (created_at < $\(time) OR (created_at = $\(time) AND id > $\(bindings.count)))"
        }
        bindings.append(limit)
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT id, created_at, octet_length(json) FROM negentropy.events WHERE \(condition)
                ORDER BY created_at DESC, id ASC LIMIT $\(bindings.count)
                """, binds: bindings)
        var keys: [EventPages.Key] = []
        for try await (id, createdAt, bytes) in try await connection.query(query, logger: logger).decode((ByteBuffer, Int64, Int32).self) {
            keys.append(EventPages.Key(id: Data(buffer: id), createdAt: createdAt, bytes: Int(bytes)))
        }
        return keys
    }

    /// The JSON of the events with these ids that are still stored.
    func json(ids: [Data], on connection: PostgresConnection) async throws -> [Data: String] {
        let query: PostgresQuery = "SELECT id, json FROM negentropy.events WHERE id = ANY(\(ids.map { ByteBuffer(data: $0) })::bytea[])"
        var found: [Data: String] = [:]
        for try await (id, json) in try await connection.query(query, logger: logger).decode((ByteBuffer, String).self) {
            found[Data(buffer: id)] = json
        }
        return found
    }
}
