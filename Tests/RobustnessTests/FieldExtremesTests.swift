import Foundation
import GRPCCore
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Every leaf field of every message a server accepts — the first message of a call and the later ones of
    /// a stream, the backrest Sync stream after a valid handshake among them — at its extremes: integers at 0,
    /// −1, their type's minimum and maximum, strings empty, 1 MiB and invalid UTF-8, bytes empty and 1 MiB.
    /// The leaves come from walking the descriptor set, and each is set inside a valid message of a real
    /// conversation (so the value reaches the code behind the checks a random message stops at). Every answer
    /// must be a success or a status naming what was wrong, and every process must stay the one started.
    @Suite("Robustness: every field of every message at its extremes", .serialized)
    struct FieldExtremesTests {
        /// One call: the valid messages before, then the edited one.
        struct Variant: Sendable {
            var label: String
            var messages: [[UInt8]]
        }

        /// The variants of one row: for each message of each conversation, each leaf at each extreme.
        static func variants(_ row: RobustnessRow, conversations: [[[UInt8]]]) -> (variants: [Variant], visited: Set<String>) {
            guard let method = ProtoSchema.shared.methods[row.method] else { return ([], []) }
            let walk = FieldPaths(schema: ProtoSchema.shared).leaves(of: method.input)
            var out: [Variant] = []
            for (number, conversation) in conversations.enumerated() {
                for position in conversation.indices {
                    for path in walk.paths {
                        guard let leaf = path.fields.last else { continue }
                        for (value, encoding) in FieldPaths.extremes(of: leaf) {
                            let edited = WireEdit.set(path.fields.map(\.number), to: encoding, in: conversation[position])
                            out.append(
                                Variant(
                                    label: "conversation \(number) message \(position): \(path) = \(value)",
                                    messages: Array(conversation[..<position]) + [edited]))
                        }
                    }
                }
            }
            return (out, walk.visited)
        }

        @Test("the walk covers every message type reachable from a served RPC, with every leaf at its extremes")
        func walkCoversEveryReachableType() throws {
            let schema = ProtoSchema.shared
            let paths = FieldPaths(schema: schema)
            var reachable: Set<String> = []
            for method in schema.methods.values { reachable.formUnion(paths.reachable(from: method.input)) }
            var covered: Set<String> = []
            for row in RobustnessTable.rows {
                covered.formUnion(Self.variants(row, conversations: row.conversations).visited)
            }
            #expect(reachable.count > 50, "the descriptor set was not read")
            #expect(reachable.subtracting(covered).isEmpty, "message types no variant reaches: \(reachable.subtracting(covered).sorted())")
            // Each leaf kind has extremes (a new field type would otherwise go untested in silence).
            for type in reachable {
                for field in schema.messages[type]?.field ?? [] {
                    #expect(!FieldPaths.extremes(of: field).isEmpty, "\(type).\(field.name) has no extreme values")
                }
            }
            // The edit keeps the rest of a valid message: a handshake's timestamp set to Int64.min keeps its signature.
            let handshake = V1sync_SyncStreamItem.with {
                $0.handshake = .with {
                    $0.protocolVersion = 1
                    $0.instanceID = .with {
                        $0.payload = Data("x".utf8); $0.signature = Data([1, 2]); $0.timestampMillis = 5
                    }
                }
            }
            let edited = WireEdit.set(
                [3, 3, 4], to: Wire.varintField(4, UInt64(bitPattern: Int64.min)),
                in: RobustnessTable.bytes(handshake))
            let decoded = try V1sync_SyncStreamItem(serializedBytes: edited)
            guard case .handshake(let parsed)? = decoded.action else { Issue.record("the handshake was lost: \(decoded)"); return }
            #expect(parsed.instanceID.timestampMillis == .min && parsed.instanceID.signature == Data([1, 2]) && parsed.protocolVersion == 1)
        }

        @Test("every leaf of every accepted message at its extremes, straight to each service")
        func everyFieldAtItsExtremes() async throws {
            let system = try await Robustness.system()
            // Eight backrest clients, each running its share of the hub's variants one after another: a newer session
            // of a client displaces its older one, so no two sessions of one client may overlap.
            var backrests: [BackrestConversation] = []
            for worker in 0..<8 { backrests.append(try await BackrestConversation.register(in: system, instanceID: "robustness-extremes-\(worker)")) }
            let failures = FailureLog()
            var calls = 0
            for row in RobustnessTable.rows {
                // The hub's seeds are all refused at their first message (that is what they test); here its
                // conversations are registered clients': a valid handshake, then an item of a live session.
                let shares: [[Variant]]
                if row.method == "/v1sync.BackrestSyncService/Sync" {
                    let perClient = try backrests.map { Self.variants(row, conversations: [try $0.conversation()]).variants }
                    shares = perClient.enumerated().map { worker, variants in
                        variants.indices.filter { $0 % perClient.count == worker }.map { variants[$0] }
                    }
                } else {
                    shares = [Self.variants(row, conversations: row.conversations).variants]
                }
                let variants = shares.flatMap { $0 }
                guard !variants.isEmpty else { continue }  // a message without fields (Empty) has no leaf
                let started = ContinuousClock.now
                for port in Robustness.directPorts(row, in: system) {
                    try await withRawClient(port: port) { client in
                        await withTaskGroup(of: Void.self) { group in
                            for share in shares {
                                group.addTask {
                                    await Robustness.forEach(share, width: shares.count == 1 ? 8 : 1) { variant in
                                        let outcome = await rawCall(
                                            client, method: row.method, messages: variant.messages, timeout: row.timeout,
                                            readAtMost: row.readAtMost)
                                        if let problem = Robustness.problem(outcome, allowed: row.alsoAllowed) {
                                            failures.record("\(row.method) [\(variant.label)] on port \(port): \(problem)")
                                        }
                                    }
                                }
                            }
                        }
                    }
                    calls += variants.count
                }
                print("field extremes: \(row.method): \(variants.count) variants in \(ContinuousClock.now - started)")
                let problems = await system.problems()
                if !problems.isEmpty {
                    Issue.record("after \(row.method): \(problems.joined(separator: "\n"))")
                    return
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.count) of \(calls) calls:\n\(failures.all.prefix(60).joined(separator: "\n"))")
            #expect(calls > 3000)
            await Robustness.expectAllAlive(system, after: "every field at its extremes")
        }

        @Test("a backrest handshake signed by a fresh key with timestampMillis at Int64.min or Int64.max is answered, and the hub serves on")
        func extremeHandshakeTimestamp() async throws {
            let system = try await Robustness.system()
            // Never registered: the timestamp is checked before the key is looked up.
            let stranger = BackrestIdentity.generate()
            try await withRawClient(port: system.port("sync")) { client in
                for stamp in [Int64.min, Int64.min + 1, -1, 0, Int64.max] {
                    var signed = try stranger.signedMessage(payload: Data("robustness-stranger".utf8))
                    signed.timestampMillis = stamp
                    let item = V1sync_SyncStreamItem.with {
                        $0.handshake = .with {
                            $0.protocolVersion = 1
                            $0.publicKey = stranger.publicKey.proto
                            $0.instanceID = signed
                        }
                    }
                    let outcome = await rawCall(
                        client, method: "/v1sync.BackrestSyncService/Sync", messages: [RobustnessTable.bytes(item)],
                        timeout: .seconds(10))
                    // The past is too old (Int64.min's age does not even fit an int64); the future is accepted, and then
                    // the key is unknown.
                    let expected: RPCError.Code = stamp == .max ? .permissionDenied : .unauthenticated
                    #expect(outcome.code == expected, "timestamp \(stamp): \(outcome)")
                }
            }
            await Robustness.expectAllAlive(system, after: "extreme handshake timestamps")
        }
    }
}

/// A backrest client authorized on the robustness system, whose conversations begin with a valid handshake.
struct BackrestConversation: Sendable {
    let identity: BackrestIdentity
    let instanceID: String

    static func register(in system: WharfSystem, instanceID: String = "robustness-extremes") async throws -> BackrestConversation {
        let identity = BackrestIdentity.generate()
        try await withRawClient(port: system.port("sync")) { client in
            let add = Wharf_Sync_V1_AddClientRequest.with {
                $0.instanceID = instanceID
                $0.keyid = identity.publicKey.keyid
                $0.permissions = [
                    .with {
                        $0.type = .permissionReadOperations; $0.scopes = ["*"]
                    }
                ]
            }
            let outcome = await rawCall(client, method: "/wharf.sync.v1.BackrestHub/AddClient", messages: [RobustnessTable.bytes(add)])
            #expect(outcome.code == nil, "AddClient: \(outcome)")
        }
        return BackrestConversation(identity: identity, instanceID: instanceID)
    }

    /// A handshake signed now, then one item a client sends after it (the walk edits each).
    func conversation() throws -> [[UInt8]] {
        let handshake = V1sync_SyncStreamItem.with {
            $0.handshake = .with {
                $0.protocolVersion = 1
                $0.publicKey = identity.publicKey.proto
                $0.instanceID = (try? identity.signedMessage(payload: Data(instanceID.utf8))) ?? .init()
            }
        }
        let operations = V1sync_SyncStreamItem.with {
            $0.receiveOperations = .with {
                $0.event = .with {
                    $0.createdOperations = .with {
                        $0.operations = [
                            .with {
                                $0.id = 1
                                $0.modno = 1
                                $0.flowID = 1
                                $0.repoID = "repo"
                                $0.planID = "plan"
                                $0.instanceID = instanceID
                                $0.unixTimeStartMs = 1_700_000_000_000
                                $0.unixTimeEndMs = 1_700_000_001_000
                                $0.status = .statusSuccess
                                $0.repoGuid = "robustness-guid"
                                $0.snapshotID = "0123456789abcdef"
                                $0.operationBackup = .init()
                            }
                        ]
                    }
                }
            }
        }
        return [RobustnessTable.bytes(handshake), RobustnessTable.bytes(operations)]
    }
}
