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

        public init(frameSizeLimit: Int = 500_000, maximumSetSize: Int = 1_000_000) {
            self.frameSizeLimit = frameSizeLimit
            self.maximumSetSize = maximumSetSize
        }
    }

    /// What a NEG-OPEN or NEG-MSG produced.
    public struct Answer: Sendable, Equatable {
        public var message: [UInt8] = []
        /// Exact differences seen in ranges the client sent as id lists: ids only we have, ids only they have.
        public var haveIDs: [EventID] = []
        public var needIDs: [EventID] = []
        /// The reply is a bare version byte: every range the client sent matched.
        public var complete = false
        /// ORLY's in-band error text; empty on success.
        public var error = ""
        /// For `blocked: too many query results`, the largest set allowed (NIP-77's optional 4th element).
        public var limit: Int?
    }

    public static let missingInitialMessage = "blocked: NEG-OPEN requires initialMessage from initiator"
    public static let tooManyResults = "blocked: too many query results"
    public static let notFound = "session not found"
    public static let noState = "session has no negentropy state"

    private struct Local: Sendable {
        var negentropy: Negentropy<SortedItems>?
        var lastUsed: ContinuousClock.Instant
    }

    public let registry: SessionRegistry
    private let store: EventStore
    private let limits: Limits
    private let logger: Logger
    private let local = Mutex<[String: Local]>([:])

    public init(registry: SessionRegistry, store: EventStore, limits: Limits, logger: Logger) {
        self.registry = registry
        self.store = store
        self.limits = limits
        self.logger = logger
    }

    /// Opens (or reopens) a session and answers the client's first message.
    public func open(connectionID: String, subscriptionID: String, filter: NostrFilter, initialMessage: [UInt8]) async throws -> Answer {
        let key = SessionRegistry.key(connectionID: connectionID, subscriptionID: subscriptionID)
        let filterJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: filter.jsonObject, options: [.sortedKeys])) ?? Data("{}".utf8),
                                as: UTF8.self)
        local.withLock { $0[key] = nil }
        try await registry.open(connectionID: connectionID, subscriptionID: subscriptionID, filterJSON: filterJSON)
        let negentropy: Negentropy<SortedItems>
        switch try await build(filter) {
        case .failure(let answer): return answer
        case .success(let built): negentropy = built
        }
        local.withLock { $0[key] = Local(negentropy: negentropy, lastUsed: .now) }
        guard !initialMessage.isEmpty else { return Answer(error: Self.missingInitialMessage) }
        return Self.respond(negentropy, to: initialMessage)
    }

    /// Answers a later message of an open session.
    public func message(connectionID: String, subscriptionID: String, message: [UInt8]) async throws -> Answer {
        let key = SessionRegistry.key(connectionID: connectionID, subscriptionID: subscriptionID)
        guard let record = try await registry.touch(connectionID: connectionID, subscriptionID: subscriptionID) else {
            local.withLock { $0[key] = nil }
            return Answer(error: Self.notFound)
        }
        let held = local.withLock { states -> Local? in
            states[key]?.lastUsed = .now
            return states[key]
        }
        if let held {
            guard let negentropy = held.negentropy else { return Answer(error: Self.noState) }
            return Self.respond(negentropy, to: message)
        }
        // Opened on another replica: rebuild the set from the session's filter.
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
            local.withLock { $0[key] = Local(negentropy: negentropy, lastUsed: .now) }
            return Self.respond(negentropy, to: message)
        }
    }

    public func close(connectionID: String, subscriptionID: String) async throws {
        local.withLock { $0[SessionRegistry.key(connectionID: connectionID, subscriptionID: subscriptionID)] = nil }
        try await registry.close(connectionID: connectionID, subscriptionID: subscriptionID)
    }

    /// Closes every session of `subscriptionID` on any connection (CloseSession with no connection id).
    public func closeAll(subscriptionID: String) async throws {
        for record in try await registry.list() where record.subscriptionID == subscriptionID {
            try await close(connectionID: record.connectionID, subscriptionID: record.subscriptionID)
        }
    }

    /// Drops this replica's sets of sessions idle longer than the timeout (the registry expires on its own).
    public func dropIdle() {
        let cutoff = ContinuousClock.now - registry.timeout
        local.withLock { states in states = states.filter { $0.value.lastUsed >= cutoff } }
    }

    public var localSessionCount: Int { local.withLock { $0.count } }

    private enum Built {
        case success(Negentropy<SortedItems>)
        case failure(Answer)
    }

    private func build(_ filter: NostrFilter) async throws -> Built {
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
            return .success(try Negentropy(storage: items, frameSizeLimit: limits.frameSizeLimit))
        }
    }

    private static func respond(_ negentropy: Negentropy<SortedItems>, to message: [UInt8]) -> Answer {
        do {
            let step = try negentropy.reconcileAsResponder(message)
            return Answer(message: step.reply, haveIDs: step.have, needIDs: step.need, complete: step.reply.count <= 1)
        } catch {
            return Answer(error: "reconcile failed: \(error)")
        }
    }
}
