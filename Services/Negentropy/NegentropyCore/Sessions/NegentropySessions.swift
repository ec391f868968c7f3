import CoreMetrics
import Foundation
import Logging
import NegentropyProtocol
import Synchronization
import WharfRuntime

/// The responder side of client reconciliation sessions, shared by the gRPC service and the WebSocket relay.
/// The registry (Redis) says which sessions exist; this replica keeps the sets of the sessions it serves. A
/// message for a session opened on another replica rebuilds the set from the session's filter (the responder
/// is a pure function of its set and the message). Failures are answered in-band with ORLY's strings.
public final class NegentropySessions: Sendable {
    public struct Limits: Sendable {
        /// Responder frame size limit (bytes of binary message); 0 = unlimited.
        public var frameSizeLimit: Int
        /// Largest set a session may reconcile.
        public var maximumSetSize: Int
        /// Relay sessions this replica serves at once.
        public var maximumSessions: Int
        /// Sessions opened through the gRPC session API (relay front-ends), counted apart: callers there
        /// cannot take the relay's places.
        public var maximumFrontEndSessions: Int
        /// Items the sets held in memory may add up to; beyond it the least recently used sets are dropped
        /// (their sessions stay open and are rebuilt from their filter at their next message).
        public var maximumHeldItems: Int

        public init(
            frameSizeLimit: Int = 500_000, maximumSetSize: Int = 1_000_000, maximumSessions: Int = 1024,
            maximumHeldItems: Int = 2_000_000, maximumFrontEndSessions: Int = 256
        ) {
            self.maximumFrontEndSessions = maximumFrontEndSessions
            self.frameSizeLimit = frameSizeLimit
            self.maximumSetSize = maximumSetSize
            self.maximumSessions = maximumSessions
            self.maximumHeldItems = maximumHeldItems
        }
    }

    /// What a NEG-OPEN or NEG-MSG produced.
    public struct Answer: Sendable, Equatable {
        public var message: [UInt8] = []
        /// Exact differences seen in ranges the client sent as id lists: ids only we have, ids only they have
        /// (gRPC sessions only: a relay client works them out from the reply, so they are not computed).
        public var haveIDs: [EventID] = []
        public var needIDs: [EventID] = []
        /// The reply is a bare version byte: every range the client sent matched.
        public var complete = false
        /// ORLY's in-band error text; empty on success.
        public var error = ""
        /// For `blocked: too many query results`, the largest set allowed (NIP-77's optional 4th element).
        public var limit: Int?
        /// The session was refused because this replica serves as many as it may (gRPC: RESOURCE_EXHAUSTED).
        public var exhausted = false
    }

    public static let missingInitialMessage = "blocked: NEG-OPEN requires initialMessage from initiator"
    public static let tooManyResults = "blocked: too many query results"
    public static let notFound = "session not found"
    public static let noState = "session has no negentropy state"

    /// Where a session was opened: the budget it counts against.
    public enum Origin: Sendable {
        case relay
        case frontEnd
    }

    private func maximum(_ origin: Origin) -> Int {
        origin == .relay ? limits.maximumSessions : limits.maximumFrontEndSessions
    }

    private struct Local: Sendable {
        var origin: Origin
        /// nil once dropped to stay within `maximumHeldItems` (rebuilt at the next message).
        var negentropy: ReconciliationSet?
        var lastUsed: ContinuousClock.Instant
        var items: Int { negentropy?.heldItems ?? 0 }
        /// What the reconciliation log records when the session ends.
        var connectionID: String
        var subscriptionID: String
        var startedAt = Date()
        var rounds = 0
        var setSize = 0
        var complete = false
        var error = ""

        func logged(endedBy reason: ReconciliationLog.Entry.Outcome) -> ReconciliationLog.Entry {
            ReconciliationLog.Entry(
                origin: origin, subscriptionID: subscriptionID, connectionID: connectionID, startedAt: startedAt, endedAt: Date(),
                rounds: rounds, setSize: setSize, outcome: !error.isEmpty ? .error : complete ? .complete : reason, error: error)
        }
    }

    /// Longest connection or subscription id a session may have (NIP-01 allows 64 characters).
    public static let maximumIDBytes = 256

    public static func tooManySessions(_ maximum: Int) -> String {
        "blocked: too many open negentropy sessions (at most \(maximum) on this replica)"
    }

    public let registry: SessionRegistry
    private let store: EventStore
    /// Where indexed filters' sets come from without reading PostgreSQL (nil: every set is read from it).
    private let indexes: ResidentIndexes?
    private let setSources: SetSourceCounts
    private let limits: Limits
    private let logger: Logger
    private let local = Mutex<[String: Local]>([:])

    /// This replica's session count, exported as a limiter's (nil: not exported).
    private let gauge: LimiterGauge?
    /// Where sessions that ended are recorded.
    public let log: ReconciliationLog

    public init(
        registry: SessionRegistry, store: EventStore, indexes: ResidentIndexes? = nil, limits: Limits, logger: Logger,
        gauge: LimiterGauge? = nil, log: ReconciliationLog = ReconciliationLog(), metrics: (any MetricsFactory)? = nil
    ) {
        self.registry = registry
        self.store = store
        self.indexes = indexes
        setSources = SetSourceCounts(metrics: metrics)
        self.limits = limits
        self.logger = logger
        self.gauge = gauge
        self.log = log
    }

    /// Removes session `key` from this replica, recording it in the log (`reason` unless it ended complete or
    /// with an error). Call inside `local`'s lock.
    private func end(_ key: String, in states: inout [String: Local], reason: ReconciliationLog.Entry.Outcome) {
        guard let state = states.removeValue(forKey: key) else { return }
        log.append(state.logged(endedBy: reason))
    }

    /// Records the session count after a change (every function that adds or removes one defers this).
    private func publishCount() {
        gauge?.record(local.withLock { $0.count })
    }

    /// Opens (or reopens) a session and answers the client's first message.
    public func open(
        connectionID: String, subscriptionID: String, filter: NostrFilter, initialMessage: [UInt8],
        origin: Origin = .relay
    ) async throws -> Answer {
        defer { publishCount() }
        let key = SessionRegistry.key(connectionID: connectionID, subscriptionID: subscriptionID)
        let filterJSON = String(
            decoding: (try? JSONSerialization.data(withJSONObject: filter.jsonObject, options: [.sortedKeys])) ?? Data("{}".utf8),
            as: UTF8.self)
        let admitted = local.withLock { states -> Bool in
            end(key, in: &states, reason: .closed)
            guard states.values.count(where: { $0.origin == origin }) < maximum(origin) else { return false }
            // Reserved while the set is built, so concurrent opens cannot all pass the check.
            states[key] = Local(origin: origin, negentropy: nil, lastUsed: .now, connectionID: connectionID, subscriptionID: subscriptionID)
            return true
        }
        guard admitted else { return Answer(error: Self.tooManySessions(maximum(origin)), exhausted: true) }
        do {
            try await registry.open(connectionID: connectionID, subscriptionID: subscriptionID, filterJSON: filterJSON)
        } catch {
            local.withLock { $0[key] = nil }
            throw error
        }
        let negentropy: ReconciliationSet
        switch try await build(filter) {
        case .failure(let answer):
            local.withLock { states in
                states[key]?.error = answer.error
                end(key, in: &states, reason: .error)
            }
            return answer
        case .success(let built): negentropy = built
        }
        hold(negentropy, for: key, origin: origin, connectionID: connectionID, subscriptionID: subscriptionID)
        guard !initialMessage.isEmpty else { return counted(Answer(error: Self.missingInitialMessage), key: key) }
        return counted(negentropy.respond(to: initialMessage, differences: origin == .frontEnd), key: key)
    }

    /// Counts an answered message of session `key` (rounds, whether the sets matched, an error).
    private func counted(_ answer: Answer, key: String) -> Answer {
        local.withLock { states in
            states[key]?.rounds += 1
            states[key]?.complete = answer.complete
            if !answer.error.isEmpty { states[key]?.error = answer.error }
        }
        return answer
    }

    /// Answers a later message of an open session.
    public func message(connectionID: String, subscriptionID: String, message: [UInt8], origin: Origin = .relay) async throws -> Answer {
        defer { publishCount() }
        let key = SessionRegistry.key(connectionID: connectionID, subscriptionID: subscriptionID)
        guard let record = try await registry.touch(connectionID: connectionID, subscriptionID: subscriptionID) else {
            local.withLock { end(key, in: &$0, reason: .idle) }
            return Answer(error: Self.notFound)
        }
        let held = local.withLock { states -> Local? in
            states[key]?.lastUsed = .now
            return states[key]
        }
        if let negentropy = held?.negentropy {
            return counted(negentropy.respond(to: message, differences: origin == .frontEnd), key: key)
        }
        if held == nil, local.withLock({ $0.values.count(where: { $0.origin == origin }) }) >= maximum(origin) {
            return Answer(error: Self.tooManySessions(maximum(origin)), exhausted: true)
        }
        // Opened on another replica, or its set was dropped to save memory: rebuild it from the session's filter.
        let filter: NostrFilter
        do {
            let object = try JSONSerialization.jsonObject(with: Data(record.filterJSON.utf8)) as? [String: Any] ?? [:]
            filter = try NostrFilter(json: object)
        } catch {
            return Answer(error: Self.noState)
        }
        switch try await build(filter) {
        case .failure(let answer): return answer
        case .success(let negentropy):
            hold(negentropy, for: key, origin: origin, connectionID: connectionID, subscriptionID: subscriptionID)
            return counted(negentropy.respond(to: message, differences: origin == .frontEnd), key: key)
        }
    }

    /// Ends a session (`reason`: NEG-CLOSE, or its connection ended).
    public func close(connectionID: String, subscriptionID: String, reason: ReconciliationLog.Entry.Outcome = .closed) async throws {
        defer { publishCount() }
        local.withLock { end(SessionRegistry.key(connectionID: connectionID, subscriptionID: subscriptionID), in: &$0, reason: reason) }
        try await registry.close(connectionID: connectionID, subscriptionID: subscriptionID)
    }

    /// Closes every session of `subscriptionID` on any connection (CloseSession with no connection id).
    public func closeAll(subscriptionID: String) async throws {
        defer { publishCount() }
        for record in try await registry.list() where record.subscriptionID == subscriptionID {
            try await close(connectionID: record.connectionID, subscriptionID: record.subscriptionID)
        }
    }

    /// Drops this replica's sets of sessions idle longer than the timeout (the registry expires on its own).
    public func dropIdle() {
        defer { publishCount() }
        let cutoff = ContinuousClock.now - registry.timeout
        local.withLock { states in
            for (key, state) in states where state.lastUsed < cutoff { end(key, in: &states, reason: .idle) }
        }
    }

    public var localSessionCount: Int { local.withLock { $0.count } }

    /// Sessions of one origin on this replica.
    public func localSessionCount(_ origin: Origin) -> Int { local.withLock { $0.values.count(where: { $0.origin == origin }) } }

    /// Items of the sets held in memory now.
    public var heldItemCount: Int { local.withLock { $0.values.reduce(0) { $0 + $1.items } } }

    /// Keeps `negentropy` as the set of session `key`, dropping the least recently used other sets while the
    /// held items exceed `maximumHeldItems` (a set larger than the budget on its own is still served).
    private func hold(_ negentropy: ReconciliationSet, for key: String, origin: Origin, connectionID: String, subscriptionID: String) {
        local.withLock { states in
            var state = states[key] ?? Local(origin: origin, lastUsed: .now, connectionID: connectionID, subscriptionID: subscriptionID)
            state.origin = origin
            state.negentropy = negentropy
            state.lastUsed = .now
            state.setSize = negentropy.count
            states[key] = state
            var held = states.values.reduce(0) { $0 + $1.items }
            guard held > limits.maximumHeldItems else { return }
            let others = states.filter { $0.key != key && $0.value.negentropy != nil }.sorted { $0.value.lastUsed < $1.value.lastUsed }
            for (other, state) in others where held > limits.maximumHeldItems {
                held -= state.items
                states[other]?.negentropy = nil
            }
        }
    }

    private enum Built {
        case success(ReconciliationSet)
        case failure(Answer)
    }

    /// Sets built for sessions so far, by where they were read from.
    public var setsBuilt: (fromIndex: Int, fromDatabase: Int) { setSources.counts }

    private func build(_ filter: NostrFilter) async throws -> Built {
        if let resident = indexes?.snapshot(for: filter) {
            guard resident.count <= limits.maximumSetSize else {
                return .failure(Answer(error: Self.tooManyResults, limit: limits.maximumSetSize))
            }
            setSources.count(.index)
            return .success(.resident(try Negentropy(storage: resident, frameSizeLimit: limits.frameSizeLimit)))
        }
        setSources.count(.database)
        let snapshot: EventStore.SnapshotResult
        do {
            snapshot = try await store.snapshot(filter, maximum: limits.maximumSetSize)
        } catch {
            logger.error("reconciliation set not built", metadata: ["error": "\(String(reflecting: error))"])
            // ORLY's text, without the database's own message (logged above).
            return .failure(Answer(error: "failed to build storage: failed to query events: event store unavailable"))
        }
        switch snapshot {
        case .tooMany:
            return .failure(Answer(error: Self.tooManyResults, limit: limits.maximumSetSize))
        case .items(let items):
            return .success(.database(try Negentropy(storage: items, frameSizeLimit: limits.frameSizeLimit)))
        }
    }
}
