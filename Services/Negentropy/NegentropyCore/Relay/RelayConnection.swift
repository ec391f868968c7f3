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
        /// Connections open at once from one client address, and in all (counted from the TCP accept).
        public var connectionsPerAddress = 64
        public var connections = 10_000
        /// Values per filter and the parsed size of a connection's open filters.
        public var filterBounds = FilterBounds()
        /// What an EVENT may carry beyond a valid signature.
        public var eventRules = EventRules()
        /// Live events waiting for one connection, in bytes; beyond it the client is dropped as a slow reader.
        public var maximumPendingLiveBytes = 4 << 20
        /// How long one frame may wait for the client to read it before the client is dropped.
        public var slowReaderTimeout: Duration = .seconds(30)
        /// JSON bytes of stored events read from the database per page of a REQ's answer (at least one event).
        public var answerPageBytes = 512 << 10
        /// EVENTs one connection may have sent without an OK yet, and their bytes: they are verified on every
        /// core and stored in group commits; beyond either the relay stops reading the connection.
        public var eventsInFlight = 1000
        public var eventBytesInFlight = 8 << 20

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
    /// EVENTs under way on every connection.
    public let intake: RelayIntake
    /// Where accepted events go to reach the other replicas.
    let accepted: AcceptedEventsPublisher

    public init(
        store: EventStore, sessions: NegentropySessions, live: LiveEvents, bus: EventBus?, deployment: String,
        replicaID: String, limits: Limits, logger: Logger, intake: RelayIntake = RelayIntake()
    ) {
        self.intake = intake
        accepted = AcceptedEventsPublisher(bus: bus, deployment: deployment, replicaID: replicaID)
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
/// read in order; REQs are answered by a second task, one at a time, a page at a time (so CLOSE is read while
/// an answer is under way, and ends it); accepted events reach live subscriptions from a third. Every write
/// goes through `output`, which drops a client that does not read.
final class RelayConnection: Sendable {
    let id: String
    let context: RelayContext
    let output: RelayOutput
    let subscriptions: RelaySubscriptions
    let negentropySessions = Mutex<Set<String>>([])
    /// EVENTs read and not yet answered.
    let eventsInFlight: InFlightLimit
    private let requests: AsyncStream<RelaySubscriptions.Answer>
    private let requestsContinuation: AsyncStream<RelaySubscriptions.Answer>.Continuation

    init(id: String, context: RelayContext, output: RelayOutput) {
        self.id = id
        self.context = context
        self.output = output
        subscriptions = RelaySubscriptions(limits: context.limits)
        eventsInFlight = InFlightLimit(maximumCount: context.limits.eventsInFlight, maximumWeight: context.limits.eventBytesInFlight)
        (requests, requestsContinuation) = AsyncStream.makeStream(of: RelaySubscriptions.Answer.self)
    }

    func run(_ inbound: WebSocketInboundStream, maximumMessageSize: Int) async {
        let maximumLiveBytes = context.limits.maximumPendingLiveBytes
        let (liveID, liveQueue) = context.live.subscribe(maximumBytes: maximumLiveBytes, interest: subscriptions.interest) { [output] in
            output.drop("error: slow reader: more than \(maximumLiveBytes) bytes of live events waiting; closing the connection")
        }
        defer { context.live.unsubscribe(liveID) }
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in await deliverLive(liveQueue) }
            group.addTask { [self] in await answerRequests() }
            group.addTask { [output] in await output.superviseSlowReader() }
            defer { group.cancelAll() }
            do {
                for try await message in inbound.messages(maxSize: maximumMessageSize) {
                    guard case .text(let text) = message else {
                        try await output.send(RelayFrame.notice("error: binary messages are not supported"))
                        continue
                    }
                    if EventFrame.isEvent(text) {
                        // Pipelined: parsed, verified and stored by its own task (group commits, every core);
                        // the next frame is read meanwhile, within the connection's in-flight bounds.
                        let weight = text.utf8.count
                        try await eventsInFlight.enter(weight: weight)
                        context.intake.entered()
                        group.addTask { [self] in
                            defer {
                                eventsInFlight.leave(weight: weight)
                                context.intake.left()
                            }
                            try? await handleEvent(text)
                        }
                        continue
                    }
                    try await handle(text)
                }
            } catch {
                context.logger.debug("relay connection ended", metadata: ["connection": "\(id)", "error": "\(error)"])
            }
            requestsContinuation.finish()
            // The client is gone: writes still waiting on its socket end with it.
            output.abandonWaitingWrites()
            await closeNegentropySessions()
        }
    }

    private func handle(_ text: String) async throws {
        guard let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [Any],
            let verb = frame.first as? String
        else {
            return try await output.send(RelayFrame.notice("error: could not parse message: expected a JSON array starting with a string"))
        }
        switch verb {
        case "EVENT": try await handleEvent(frame)
        case "REQ":
            await eventsInFlight.idle()  // a REQ sees the events this connection sent before it
            try await handleRequest(frame)
        case "CLOSE":
            guard frame.count >= 2, let subscription = frame[1] as? String else {
                return try await output.send(RelayFrame.notice("error: CLOSE needs a subscription id"))
            }
            subscriptions.close(subscription)
        case "NEG-OPEN":
            await eventsInFlight.idle()
            try await handleNegOpen(frame)
        case "NEG-MSG": try await handleNegMessage(frame)
        case "NEG-CLOSE":
            guard frame.count >= 2, let subscription = frame[1] as? String else {
                return try await output.send(RelayFrame.notice("error: NEG-CLOSE needs a subscription id"))
            }
            negentropySessions.withLock { _ = $0.remove(subscription) }
            try? await context.sessions.close(connectionID: id, subscriptionID: subscription)
        default:
            try await output.send(RelayFrame.notice("error: unknown message type \(verb.prefix(64))"))
        }
    }

    // MARK: REQ

    private func handleRequest(_ frame: [Any]) async throws {
        guard frame.count >= 2, let subscription = frame[1] as? String, !subscription.isEmpty, subscription.utf8.count <= 256 else {
            return try await output.send(RelayFrame.notice("error: REQ needs a subscription id of 1 to 256 bytes"))
        }
        let objects = frame.dropFirst(2)
        guard objects.count <= context.limits.filtersPerRequest else {
            subscriptions.close(subscription)
            return try await output.send(
                RelayFrame.closed(subscription: subscription, reason: "blocked: at most \(context.limits.filtersPerRequest) filters per REQ"))
        }
        var filters: [NostrFilter] = []
        for object in objects {
            guard let dictionary = object as? [String: Any] else {
                subscriptions.close(subscription)
                return try await output.send(RelayFrame.closed(subscription: subscription, reason: "invalid: filters must be JSON objects"))
            }
            do throws(FilterError) {
                let filter = try NostrFilter(json: dictionary)
                if let refusal = context.limits.filterBounds.refusal(of: filter) { throw refusal }
                filters.append(filter)
            } catch {
                subscriptions.close(subscription)
                return try await output.send(RelayFrame.closed(subscription: subscription, reason: error.description))
            }
        }
        switch subscriptions.open(subscription, filters: filters) {
        case .refused(let reason):
            try await output.send(RelayFrame.closed(subscription: subscription, reason: reason))
        case .opened(let answer):
            requestsContinuation.yield(answer)
        }
    }

    /// Answers REQs in the order they came, each with its stored events a page at a time, then EOSE. An answer
    /// whose subscription was closed or replaced meanwhile stops at the next page.
    private func answerRequests() async {
        for await answer in requests {
            subscriptions.answerStarted()
            do {
                try await self.answer(answer)
            } catch let error as RelayConnectionDropped {
                context.logger.debug("relay connection dropped", metadata: ["connection": "\(id)", "reason": "\(error)"])
                return
            } catch  where Task.isCancelled || error is CancellationError {
                return  // the connection ended
            } catch {
                subscriptions.close(answer.subscription, ifGeneration: answer.generation)
                let reason: String
                if isStatementCancelled(error) {
                    reason = "error: the query ran longer than \(context.store.queryTimeout); narrow the filter"
                } else {
                    context.logger.error("REQ not answered", metadata: ["error": "\(String(reflecting: error))"])
                    reason = "error: could not query events, try again"
                }
                guard (try? await output.send(RelayFrame.closed(subscription: answer.subscription, reason: reason))) != nil else { return }
            }
        }
    }

    private func answer(_ answer: RelaySubscriptions.Answer) async throws {
        var sent = Set<Data>()
        for filter in answer.filters {
            let limit = min(filter.limit ?? context.limits.maximumFilterLimit, context.limits.maximumFilterLimit)
            var pages = EventPages(store: context.store, filter: filter, limit: limit, pageBytes: context.limits.answerPageBytes)
            while let page = try await pages.next() {
                guard subscriptions.isCurrent(answer), !Task.isCancelled else { return }
                for event in page where sent.insert(event.id).inserted {
                    try await output.send(RelayFrame.event(subscription: answer.subscription, eventJSON: event.json))
                }
            }
        }
        guard subscriptions.isCurrent(answer) else { return }
        try await output.send(RelayFrame.eose(subscription: answer.subscription))
    }

    // MARK: live events

    /// Sends accepted events to the subscriptions they match. Matching runs on a copy of the subscriptions,
    /// never under their lock (a client whose queue overflows is dropped by the queue's handler).
    private func deliverLive(_ queue: LiveQueue) async {
        for await event in queue.events {
            queue.taken(event)
            let matching = subscriptions.matching(event)
            for subscription in matching {
                guard (try? await output.send(RelayFrame.event(subscription: subscription, eventJSON: event.json))) != nil else { return }
            }
        }
    }
}
