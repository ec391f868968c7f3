import Foundation
import HummingbirdWebSocket
import Logging
import NegentropyProtocol
import Synchronization
import WharfRuntime

/// What a relay connection shares with the rest of the service.
public struct RelayContext: Sendable {
    public struct Limits: Sendable {
        /// Open REQ subscriptions per connection.
        public var subscriptionsPerConnection = 20
        /// Open NEG sessions per connection.
        public var sessionsPerConnection = 8
        /// Events a REQ filter returns at most (and when it gives no limit).
        public var maximumFilterLimit = 5000
        /// Filters in one REQ.
        public var filtersPerRequest = 10
        /// WebSocket connections open at once from one client address, and in all.
        public var connectionsPerAddress = 64
        public var connections = 10_000

        public init() {}
    }

    public var store: EventStore
    public var sessions: NegentropySessions
    public var live: LiveEvents
    public var bus: EventBus?
    /// Identifies the deployment on the shared event channel (see `NostrEventAccepted`).
    public var deployment: String
    public var replicaID: String
    public var limits: Limits
    public var logger: Logger

    public init(store: EventStore, sessions: NegentropySessions, live: LiveEvents, bus: EventBus?, deployment: String,
                replicaID: String, limits: Limits, logger: Logger) {
        self.store = store
        self.sessions = sessions
        self.live = live
        self.bus = bus
        self.deployment = deployment
        self.replicaID = replicaID
        self.limits = limits
        self.logger = logger
    }
}

/// One client's WebSocket: NIP-01 (EVENT, REQ, CLOSE) and NIP-77 (NEG-OPEN, NEG-MSG, NEG-CLOSE). Frames are
/// handled in order; accepted events reach live subscriptions from a second task.
final class RelayConnection: Sendable {
    let id: String
    private let context: RelayContext
    private let outbound: WebSocketOutboundWriter
    private let subscriptions = Mutex<[String: [NostrFilter]]>([:])
    private let negentropySessions = Mutex<Set<String>>([])

    init(id: String, context: RelayContext, outbound: WebSocketOutboundWriter) {
        self.id = id
        self.context = context
        self.outbound = outbound
    }

    func run(_ inbound: WebSocketInboundStream, maximumMessageSize: Int) async {
        let (liveID, liveEvents) = context.live.subscribe()
        defer { context.live.unsubscribe(liveID) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                // A failed write means the socket is gone; the reading loop ends as well.
                for await event in liveEvents { try? await pushLive(event) }
            }
            defer { group.cancelAll() }
            do {
                for try await message in inbound.messages(maxSize: maximumMessageSize) {
                    guard case .text(let text) = message else {
                        try await send(RelayFrame.notice("error: binary messages are not supported"))
                        continue
                    }
                    try await handle(text)
                }
            } catch {
                context.logger.debug("relay connection ended", metadata: ["connection": "\(id)", "error": "\(error)"])
            }
            await closeNegentropySessions()
        }
    }

    private func send(_ frame: String) async throws {
        try await outbound.write(.text(frame))
    }

    private func handle(_ text: String) async throws {
        guard let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [Any],
              let verb = frame.first as? String else {
            return try await send(RelayFrame.notice("error: could not parse message: expected a JSON array starting with a string"))
        }
        switch verb {
        case "EVENT": try await handleEvent(frame)
        case "REQ": try await handleRequest(frame)
        case "CLOSE":
            guard frame.count >= 2, let subscription = frame[1] as? String else {
                return try await send(RelayFrame.notice("error: CLOSE needs a subscription id"))
            }
            subscriptions.withLock { $0[subscription] = nil }
        case "NEG-OPEN": try await handleNegOpen(frame)
        case "NEG-MSG": try await handleNegMessage(frame)
        case "NEG-CLOSE":
            guard frame.count >= 2, let subscription = frame[1] as? String else {
                return try await send(RelayFrame.notice("error: NEG-CLOSE needs a subscription id"))
            }
            negentropySessions.withLock { _ = $0.remove(subscription) }
            try? await context.sessions.close(connectionID: id, subscriptionID: subscription)
        default:
            try await send(RelayFrame.notice("error: unknown message type \(verb)"))
        }
    }

    // MARK: NIP-01

    private func handleEvent(_ frame: [Any]) async throws {
        guard frame.count >= 2, let object = frame[1] as? [String: Any] else {
            return try await send(RelayFrame.notice("error: EVENT needs an event object"))
        }
        let claimedID = object["id"] as? String ?? ""
        let event: NostrEvent
        do {
            event = try JSONDecoder().decode(NostrEvent.self, from: try JSONSerialization.data(withJSONObject: object))
        } catch {
            return try await send(RelayFrame.ok(eventID: claimedID, accepted: false, message: "invalid: malformed event (id, pubkey, created_at, kind, tags, content and sig are required, with their NIP-01 types)"))
        }
        do {
            try event.validate()
        } catch {
            return try await send(RelayFrame.ok(eventID: claimedID, accepted: false, message: error.description))
        }
        let outcome: EventStore.SaveOutcome
        do {
            outcome = try await context.store.save(event)
        } catch {
            context.logger.error("event not stored", metadata: ["id": "\(event.id)", "error": "\(String(reflecting: error))"])
            return try await send(RelayFrame.ok(eventID: event.id, accepted: false, message: "error: could not store the event, try again"))
        }
        switch outcome {
        case .duplicate(let message):
            try await send(RelayFrame.ok(eventID: event.id, accepted: true, message: message))
        case .stored, .ephemeral:
            try await send(RelayFrame.ok(eventID: event.id, accepted: true, message: ""))
            context.live.deliver(event)
            await context.bus?.publishIgnoringFailure(NostrEventAccepted(deployment: context.deployment, origin: context.replicaID, event: event))
        }
    }

    private func handleRequest(_ frame: [Any]) async throws {
        guard frame.count >= 2, let subscription = frame[1] as? String, !subscription.isEmpty, subscription.utf8.count <= 256 else {
            return try await send(RelayFrame.notice("error: REQ needs a subscription id of 1 to 256 bytes"))
        }
        let objects = frame.dropFirst(2)
        guard objects.count <= context.limits.filtersPerRequest else {
            return try await send(RelayFrame.closed(subscription: subscription, reason: "blocked: at most \(context.limits.filtersPerRequest) filters per REQ"))
        }
        var filters: [NostrFilter] = []
        for object in objects {
            guard let dictionary = object as? [String: Any] else {
                return try await send(RelayFrame.closed(subscription: subscription, reason: "invalid: filters must be JSON objects"))
            }
            do { filters.append(try NostrFilter(json: dictionary)) } catch {
                return try await send(RelayFrame.closed(subscription: subscription, reason: error.description))
            }
        }
        let admitted = subscriptions.withLock { open -> Bool in
            if open[subscription] == nil, open.count >= context.limits.subscriptionsPerConnection { return false }
            open[subscription] = filters  // a REQ with an open id replaces that subscription
            return true
        }
        guard admitted else {
            return try await send(RelayFrame.closed(subscription: subscription, reason: "blocked: at most \(context.limits.subscriptionsPerConnection) open subscriptions per connection"))
        }
        let events: [EventStore.StoredEvent]
        do {
            events = try await context.store.query(filters, maximumPerFilter: context.limits.maximumFilterLimit)
        } catch {
            subscriptions.withLock { $0[subscription] = nil }
            context.logger.error("REQ not answered", metadata: ["error": "\(String(reflecting: error))"])
            return try await send(RelayFrame.closed(subscription: subscription, reason: "error: could not query events, try again"))
        }
        for event in events { try await send(RelayFrame.event(subscription: subscription, eventJSON: event.json)) }
        try await send(RelayFrame.eose(subscription: subscription))
    }

    private func pushLive(_ event: NostrEvent) async throws {
        let matching = subscriptions.withLock { open in open.filter { $0.value.contains { $0.matches(event) } }.map(\.key) }
        guard !matching.isEmpty else { return }
        let json = String(decoding: event.json, as: UTF8.self)
        for subscription in matching { try await send(RelayFrame.event(subscription: subscription, eventJSON: json)) }
    }

    // MARK: NIP-77

    private func handleNegOpen(_ frame: [Any]) async throws {
        guard frame.count >= 4, let subscription = frame[1] as? String, let object = frame[2] as? [String: Any],
              let hex = frame[3] as? String else {
            let subscription = frame.count >= 2 ? frame[1] as? String ?? "" : ""
            return try await send(RelayFrame.negError(subscription: subscription, reason: "error: NEG-OPEN needs a subscription id, a filter and an initial message"))
        }
        guard !subscription.isEmpty, subscription.utf8.count <= 256 else {
            return try await send(RelayFrame.notice("error: NEG-OPEN needs a subscription id of 1 to 256 bytes"))
        }
        let filter: NostrFilter
        do { filter = try NostrFilter(json: object) } catch {
            return try await send(RelayFrame.negError(subscription: subscription, reason: error.description))
        }
        guard let message = Data(hexString: hex) else {
            return try await send(RelayFrame.negError(subscription: subscription, reason: "invalid: the initial message must be hex"))
        }
        let admitted = negentropySessions.withLock { open -> Bool in
            if !open.contains(subscription), open.count >= context.limits.sessionsPerConnection { return false }
            open.insert(subscription)
            return true
        }
        guard admitted else {
            return try await send(RelayFrame.negError(subscription: subscription, reason: "blocked: at most \(context.limits.sessionsPerConnection) negentropy sessions per connection"))
        }
        let answer: NegentropySessions.Answer
        do {
            answer = try await context.sessions.open(connectionID: id, subscriptionID: subscription, filter: filter, initialMessage: Array(message))
        } catch {
            return try await failSession(subscription, error)
        }
        try await reply(subscription, answer)
    }

    private func handleNegMessage(_ frame: [Any]) async throws {
        guard frame.count >= 3, let subscription = frame[1] as? String, let hex = frame[2] as? String else {
            let subscription = frame.count >= 2 ? frame[1] as? String ?? "" : ""
            return try await send(RelayFrame.negError(subscription: subscription, reason: "error: NEG-MSG needs a subscription id and a message"))
        }
        guard negentropySessions.withLock({ $0.contains(subscription) }) else {
            return try await send(RelayFrame.negError(subscription: subscription, reason: "closed: unknown subscription handle"))
        }
        guard let message = Data(hexString: hex) else {
            // NEG-ERR ends the session (NIP-77).
            return try await reply(subscription, NegentropySessions.Answer(error: "invalid: the message must be hex"))
        }
        let answer: NegentropySessions.Answer
        do {
            answer = try await context.sessions.message(connectionID: id, subscriptionID: subscription, message: Array(message))
        } catch {
            return try await failSession(subscription, error)
        }
        try await reply(subscription, answer)
    }

    /// A NEG-MSG reply, or NEG-ERR (which ends the session, NIP-77) with a prefixed reason.
    private func reply(_ subscription: String, _ answer: NegentropySessions.Answer) async throws {
        guard !answer.error.isEmpty else {
            return try await send(RelayFrame.negMessage(subscription: subscription, message: answer.message))
        }
        negentropySessions.withLock { _ = $0.remove(subscription) }
        try? await context.sessions.close(connectionID: id, subscriptionID: subscription)
        let reason: String
        switch answer.error {
        case NegentropySessions.notFound: reason = "closed: session expired or closed"
        case let text where text.hasPrefix("blocked:") || text.hasPrefix("invalid:"): reason = text
        default: reason = "error: " + answer.error
        }
        try await send(RelayFrame.negError(subscription: subscription, reason: reason, limit: answer.limit))
    }

    private func failSession(_ subscription: String, _ error: any Error) async throws {
        context.logger.error("negentropy session failed", metadata: ["error": "\(String(reflecting: error))"])
        negentropySessions.withLock { _ = $0.remove(subscription) }
        try await send(RelayFrame.negError(subscription: subscription, reason: "error: session registry unavailable, try again"))
    }

    private func closeNegentropySessions() async {
        let open = negentropySessions.withLock { sessions in
            defer { sessions.removeAll() }
            return sessions
        }
        for subscription in open { try? await context.sessions.close(connectionID: id, subscriptionID: subscription) }
    }
}
