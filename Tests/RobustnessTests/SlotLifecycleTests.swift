import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NegentropyProtocol
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Every limited place is given back on every path: streams that take a limiter's whole share for
    /// strangers and then reset before their first message, idle, run into their deadline or fail — and then
    /// an honest call gets a place within the idle bound. The counts are read from the processes' own
    /// `wharf_limiter_slots_in_use` metrics, and must return to zero.
    @Suite("Robustness: every limited place is given back", .serialized)
    struct SlotLifecycleTests {
        enum Holder: String, CaseIterable, Sendable {
            case resetBeforeFirstMessage = "reset before the first message"
            case idle = "idle"
            case deadline = "deadline"
            case error = "error"
        }

        /// A limiter, the stream that holds one of its places, and an honest call of it.
        struct Limited: Sendable {
            var limiter: String
            var component: String
            var method: String
            /// Places a caller without this node's credential may hold.
            var anonymousPlaces: Int
            /// An honest call's messages (it must succeed once a place is free), and a message that fails.
            var honest: [[UInt8]]
            var failing: [[UInt8]]
            /// Responses the honest call reads before it ends the call itself (for streams that never end).
            var readAtMost: Int = .max
        }

        static var limited: [Limited] {
            let open = (try? Negentropy(storage: try SortedItems([])).initiate()) ?? []
            return [
                Limited(
                    limiter: "store_reconciliations", component: "store", method: "/wharf.store.v1.RecordReconciliation/Reconcile",
                    anonymousPlaces: 4, honest: [RobustnessTable.bytes(Wharf_Store_V1_ReconcileMessage.with { $0.negentropy = Data(open) })],
                    failing: [RobustnessTable.bytes(Wharf_Store_V1_ReconcileMessage.with { $0.negentropy = Data([0x61, 0xFF, 0xFF]) })]),
                Limited(
                    limiter: "store_reconciliations", component: "store", method: "/wharf.store.v1.RecordReconciliation/Initiate",
                    anonymousPlaces: 4, honest: [RobustnessTable.bytes(Wharf_Store_V1_ReconcileMessage())],
                    failing: [RobustnessTable.bytes(Wharf_Store_V1_ReconcileMessage.with { $0.negentropy = Data([1]) })]),
                // A watcher that reads nothing new is idle by nature: its place ends with WHARF_STORE_WATCH_DURATION (5 s here).
                Limited(
                    limiter: "store_watchers", component: "store", method: "/wharf.store.v1.RecordReconciliation/WatchRecords",
                    anonymousPlaces: 48, honest: [RobustnessTable.bytes(Wharf_Store_V1_WatchRecordsRequest())],
                    failing: [[0x08, 0x80]], readAtMost: 1),
            ]
        }

        @Test(
            "a limiter's places come back after holders that reset, idle, hit their deadline or fail",
            arguments: Holder.allCases)
        func placesComeBack(holder: Holder) async throws {
            let system = try await Robustness.system()
            for limited in Self.limited {
                try await exercise(limited, holder: holder, system: system)
            }
            await Robustness.expectAllAlive(system, after: "slot lifecycle (\(holder.rawValue))")
        }

        private func exercise(_ limited: Limited, holder: Holder, system: WharfSystem) async throws {
            let what = "\(limited.method) [\(holder.rawValue)]"
            let port = system.port(limited.component)
            let metrics = try #require(system.component(limited.component).metricsPort)
            #expect(
                try await eventually(timeout: .seconds(20), every: .milliseconds(200)) { try await slotsInUse(metrics, limited.limiter) == 0 },
                "\(what): not idle before")
            try await withRawClient(port: port) { client in
                let holders = Task {
                    await withTaskGroup(of: CallOutcome.self) { group in
                        for _ in 0..<limited.anonymousPlaces {
                            group.addTask {
                                // A stream takes its place when its handler starts: at its headers for a client
                                // stream, at its one message for a server stream.
                                // (whose request must also end).
                                let serverStream = limited.readAtMost == 1
                                let opening = serverStream ? limited.honest : []
                                switch holder {
                                case .resetBeforeFirstMessage, .idle:
                                    // Opens the stream, then neither sends nor reads (reset: the task is cancelled below).
                                    return await holdCall(
                                        client, method: limited.method, messages: opening, closeRequest: serverStream, timeout: .seconds(60))
                                case .deadline:
                                    return await holdCall(
                                        client, method: limited.method, messages: opening, closeRequest: serverStream, timeout: .seconds(2))
                                case .error:
                                    return await rawCall(
                                        client, method: limited.method, messages: limited.failing, timeout: .seconds(20), metadata: [:])
                                }
                            }
                        }
                        var outcomes: [CallOutcome] = []
                        for await outcome in group { outcomes.append(outcome) }
                        return outcomes
                    }
                }
                switch holder {
                case .resetBeforeFirstMessage:
                    #expect(
                        try await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                            try await slotsInUse(metrics, limited.limiter) == limited.anonymousPlaces
                        },
                        "\(what): the holders did not take every place")
                    holders.cancel()
                    _ = await holders.value
                case .idle:
                    #expect(
                        try await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                            try await slotsInUse(metrics, limited.limiter) == limited.anonymousPlaces
                        },
                        "\(what): the holders did not take every place")
                    // Strangers are refused now; this node's own services are not (places kept for them).
                    let refused = await rawCall(
                        client, method: limited.method, messages: limited.honest, timeout: .seconds(10), metadata: [:],
                        readAtMost: limited.readAtMost)
                    #expect(refused.code == .resourceExhausted, "\(what): a stranger beyond the share: \(refused)")
                    let credentialed = await rawCall(
                        client, method: limited.method, messages: limited.honest, timeout: .seconds(10),
                        readAtMost: limited.readAtMost)
                    #expect(credentialed.code == nil, "\(what): this node's own call: \(credentialed)")
                case .deadline, .error:
                    let outcomes = await holders.value
                    let expected: Set<RPCError.Code> = holder == .deadline ? [.deadlineExceeded] : RobustnessTable.namedStatuses
                    #expect(outcomes.allSatisfy { $0.code.map(expected.contains) ?? false }, "\(what): \(outcomes.map(\.description))")
                }
                // An honest stranger gets a place within the idle bound (3 s, a watcher's 5 s), with room for a loaded machine.
                let started = ContinuousClock.now
                var last = CallOutcome(code: .unknown, message: "not called", responses: 0)
                while ContinuousClock.now - started < .seconds(20) {
                    last = await rawCall(
                        client, method: limited.method, messages: limited.honest, timeout: .seconds(10), metadata: [:],
                        readAtMost: limited.readAtMost)
                    if last.code == nil { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(last.code == nil, "\(what): an honest call after the holders: \(last)")
                if holder == .idle {
                    // Their calls have ended (the await returns): a reconciliation with RESOURCE_EXHAUSTED naming its
                    // idleness; a watcher at the end of its watch (it reconnects from its last sequence).
                    let outcomes = await holders.value
                    let ended: Set<RPCError.Code?> = limited.readAtMost == 1 ? [nil] : [.resourceExhausted]
                    #expect(outcomes.allSatisfy { ended.contains($0.code) }, "\(what): idle holders: \(outcomes.map(\.description))")
                }
                holders.cancel()
                _ = await holders.value
            }
            let backToZero = try await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                try await slotsInUse(metrics, limited.limiter) == 0
            }
            let count = try await slotsInUse(metrics, limited.limiter)
            #expect(backToZero, "\(what): the count did not return to zero (\(String(describing: count)))")
        }

        @Test("backrest sessions aborted through the gateway leave no open stream counted at the gateway")
        func gatewayCountsReturnToZero() async throws {
            let system = try await Robustness.system()
            // One client per open session: a newer session of a client ends (displaces) its older one.
            var registered: [[UInt8]] = []
            for index in 0..<30 {
                let backrest = try await BackrestConversation.register(in: system, instanceID: "robustness-gateway-counts-\(index)")
                registered.append(try backrest.conversation()[0])
            }
            let openings = registered
            try await withRawClient(port: system.port("gateway")) { client in
                // Fifteen sessions the hub ends (an unknown key) while the client's request is still open, and
                // fifteen the client abandons after the hub answered its handshake: the client resets each.
                let stranger = BackrestIdentity.generate()
                let refusedHandshake = RobustnessTable.bytes(
                    V1sync_SyncStreamItem.with {
                        $0.handshake = .with {
                            $0.protocolVersion = 1
                            $0.publicKey = stranger.publicKey.proto
                            $0.instanceID = (try? stranger.signedMessage(payload: Data("robustness-stranger".utf8))) ?? .init()
                        }
                    })
                await withTaskGroup(of: CallOutcome.self) { group in
                    for index in 0..<30 {
                        group.addTask {
                            await rawCall(
                                client, method: "/v1sync.BackrestSyncService/Sync", messages: [index < 15 ? refusedHandshake : openings[index]],
                                timeout: .seconds(30), metadata: [:], halfOpen: true, readAtMost: index < 15 ? .max : 4)
                        }
                    }
                    for await outcome in group where outcome.code != nil && outcome.code != .permissionDenied {
                        Issue.record("a session ended with \(outcome)")
                    }
                }
                // And fifteen whose task is cancelled while the session is open.
                let open = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for index in 0..<15 {
                            group.addTask {
                                _ = await holdCall(
                                    client, method: "/v1sync.BackrestSyncService/Sync", messages: [openings[index]], timeout: .seconds(60))
                            }
                        }
                    }
                }
                #expect(
                    try await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                        try await openStreams(client, route: "v1sync.BackrestSyncService") >= 15
                    })
                open.cancel()
                _ = await open.value
                let closed = try await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                    try await openStreams(client, route: "v1sync.BackrestSyncService") == 0
                }
                let left = try await openStreams(client, route: "v1sync.BackrestSyncService")
                #expect(closed, "open streams at the gateway after the callers left: \(left)")
            }
            await Robustness.expectAllAlive(system, after: "aborted sessions through the gateway")
        }

        @Test("after the hostile groups every limiter's count is back to zero in every process")
        func everyLimiterAtZero() async throws {
            let system = try await Robustness.system()
            for component in system.components {
                guard let port = component.metricsPort else { Issue.record("\(component.name) has no metrics port"); continue }
                let zero = try await eventually(timeout: .seconds(30), every: .milliseconds(300)) {
                    try await limiterCounts(port).values.allSatisfy { $0 == 0 }
                }
                let counts = try await limiterCounts(port)
                #expect(zero, "\(component.name): \(counts)")
                // (Idle negentropy sessions go within WHARF_NEGENTROPY_SESSION_TIMEOUT, 5 s here.)
            }
            // Each limiter exports its metric (a limiter without one would pass in silence).
            let store = try #require(system.component("store").metricsPort)
            #expect(Set(try await limiterCounts(store).keys).isSuperset(of: ["store_reconciliations", "store_watchers"]))
            let negentropy = try #require(system.component("negentropy").metricsPort)
            #expect(Set(try await limiterCounts(negentropy).keys).isSuperset(of: ["negentropy_sessions", "relay_connections"]))
        }
    }
}

/// A call that sends `messages`, then keeps its request open (unless `closeRequest`) and sends nothing more
/// until the server ends the call, its deadline passes, or its task is cancelled (which resets the stream).
func holdCall(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, method: String, messages: [[UInt8]], closeRequest: Bool = false,
    timeout: Duration
) async -> CallOutcome {
    let parts = method.split(separator: "/")
    let descriptor = MethodDescriptor(fullyQualifiedService: String(parts.first ?? ""), method: String(parts.last ?? ""))
    var options = CallOptions.defaults
    options.timeout = timeout
    let request = StreamingClientRequest<[UInt8]>(metadata: [:]) { writer in
        for message in messages { try await writer.write(message) }
        if !closeRequest { try await Task.sleep(for: timeout + .seconds(5)) }
    }
    do {
        try await client.bidirectionalStreaming(
            request: request, descriptor: descriptor, serializer: RawBytesSerializer(),
            deserializer: RawBytesDeserializer(), options: options
        ) { response in
            for try await _ in response.messages {}
        }
        return CallOutcome(code: nil, message: "", responses: 0)
    } catch let error as RPCError {
        return CallOutcome(code: error.code, message: error.message, responses: 0)
    } catch {
        return CallOutcome(code: .cancelled, message: "\(error)", responses: 0)
    }
}

/// `wharf_limiter_slots_in_use` of every limiter a process exports.
func limiterCounts(_ metricsPort: Int) async throws -> [String: Int] {
    let body = try await httpGet("http://127.0.0.1:\(metricsPort)/metrics").body
    var counts: [String: Int] = [:]
    for line in body.split(separator: "\n") where line.hasPrefix("wharf_limiter_slots_in_use{") {
        guard let open = line.range(of: "limiter=\""), let close = line[open.upperBound...].firstIndex(of: "\""),
            let value = line.split(separator: " ").last.flatMap({ Double($0) })
        else { continue }
        counts[String(line[open.upperBound..<close])] = Int(value)
    }
    return counts
}

func slotsInUse(_ metricsPort: Int, _ limiter: String) async throws -> Int? {
    try await limiterCounts(metricsPort)[limiter]
}

/// The gateway's open streams to the replicas of `route` (wharf.gateway.v1.GatewayStatus/ListRoutes).
func openStreams(_ client: GRPCClient<HTTP2ClientTransport.Posix>, route: String) async throws -> Int {
    let routes = try await Wharf_Gateway_V1_GatewayStatus.Client(wrapping: client).listRoutes(.init(), metadata: adminMetadata)
    return routes.routes.filter { $0.service == route }.flatMap(\.replicas).reduce(0) { $0 + Int($1.openStreams) }
}
