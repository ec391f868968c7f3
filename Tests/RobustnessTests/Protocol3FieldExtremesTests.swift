import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Protocol 3's items are encrypted, so the generic walk (fixed bytes sent as they are) cannot reach them: here
    /// every leaf of protocol 3's SyncStreamItem is set at its extremes inside the client's handshake (after a valid
    /// key exchange, signed over its transcript) and inside an item of a live session (after a valid handshake), then
    /// sealed and sent. Every answer must be a success or a status naming what was wrong; the hub must live on.
    @Suite("Robustness: protocol 3's encrypted items at their extremes", .serialized)
    struct Protocol3FieldExtremesTests {
        static let itemType = ".wharf.backrest.protocol3.SyncStreamItem"

        struct Variant: Sendable {
            var label: String
            /// 0: the handshake is edited; 1: the item after a valid handshake.
            var position: Int
            var path: [Int32]
            var leaf: [UInt8]
        }

        @Test("every leaf of protocol 3's items at its extremes, in the handshake and after it, over a real key exchange")
        func everyEncryptedFieldAtItsExtremes() async throws {
            let system = try await Robustness.system()
            // One client per worker: a newer session of a client displaces its older one, so the workers must not
            // share a key (each runs its variants one after another).
            let workers = 8
            let identities = (0..<workers).map { Protocol3ClientIdentity(instanceID: "robustness-protocol3-\($0)") }
            try await withRawClient(port: system.port("sync")) { client in
                for identity in identities {
                    let add = Wharf_Sync_V1_AddClientRequest.with {
                        $0.instanceID = identity.instanceID
                        $0.keyid = identity.keyid
                        $0.permissions = [
                            .with {
                                $0.type = .permissionReadOperations; $0.scopes = ["*"]
                            }
                        ]
                    }
                    let outcome = await rawCall(client, method: "/wharf.sync.v1.BackrestHub/AddClient", messages: [RobustnessTable.bytes(add)])
                    #expect(outcome.code == nil, "AddClient: \(outcome)")
                }
            }
            let walk = FieldPaths(schema: ProtoSchema.shared).leaves(of: Self.itemType)
            #expect(walk.visited.contains(".wharf.backrest.protocol3.SyncStreamItem.SyncActionOperationManifest"))
            #expect(walk.visited.contains(".v1.Operation"))
            var variants: [Variant] = []
            for position in 0...1 {
                for path in walk.paths {
                    guard let leaf = path.fields.last else { continue }
                    for (value, encoding) in FieldPaths.extremes(of: leaf) {
                        variants.append(
                            Variant(
                                label: "message \(position): \(path) = \(value)", position: position, path: path.fields.map(\.number), leaf: encoding)
                        )
                    }
                }
            }
            let failures = FailureLog()
            let started = ContinuousClock.now
            try await withTestClient(port: system.port("sync")) { client in
                await withTaskGroup(of: Void.self) { group in
                    for (worker, identity) in identities.enumerated() {
                        let share = variants.indices.filter { $0 % workers == worker }.map { variants[$0] }
                        let operations = Self.operations(identity.instanceID)
                        group.addTask {
                            for variant in share {
                                let outcome = await Self.call(client, identity: identity, variant: variant, after: operations)
                                if let problem = Robustness.problem(outcome, allowed: []) {
                                    failures.record("[\(variant.label)]: \(problem)")
                                }
                            }
                        }
                    }
                }
            }
            print("protocol 3 field extremes: \(variants.count) variants in \(ContinuousClock.now - started)")
            #expect(failures.all.isEmpty, "\(failures.all.count) of \(variants.count) calls:\n\(failures.all.prefix(60).joined(separator: "\n"))")
            #expect(variants.count > 1000)
            await Robustness.expectAllAlive(system, after: "protocol 3's fields at their extremes")
        }

        /// A valid item of a live session: a created operation, as a 1.14 client sends one.
        static func operations(_ instanceID: String) -> [UInt8] {
            RobustnessTable.bytes(
                Wharf_Backrest_Protocol3_SyncStreamItem.with {
                    $0.receiveOperations = .with {
                        $0.event = .with {
                            $0.createdOperations = .with {
                                $0.operations = [
                                    .with {
                                        $0.id = 1; $0.modno = 1; $0.flowID = 1; $0.repoID = "repo"; $0.planID = "plan"
                                        $0.instanceID = instanceID; $0.unixTimeStartMs = 1_700_000_000_000; $0.status = .statusSuccess
                                        $0.repoGuid = "robustness-guid"; $0.operationBackup = .init()
                                    }
                                ]
                            }
                        }
                    }
                })
        }

        /// One session: key exchange, the (edited) handshake, then for position 1 the edited item; the client then
        /// ends its stream and reads until the hub ends the call.
        static func call(
            _ client: GRPCClient<HTTP2ClientTransport.Posix>, identity: Protocol3ClientIdentity, variant: Variant, after valid: [UInt8]
        ) async -> CallOutcome {
            do {
                let responses = try await withProtocol3Session(client) { io -> Int in
                    let transcript = try await io.exchangeKeys()
                    let handshake = RobustnessTable.bytes(try identity.handshake(transcript: transcript))
                    guard var channel = io.channel else { return 0 }
                    let first = variant.position == 0 ? WireEdit.set(variant.path, to: variant.leaf, in: handshake) : handshake
                    try await io.sendRaw(try channel.seal(serialized: first))
                    if variant.position == 1 {
                        try await io.sendRaw(try channel.seal(serialized: WireEdit.set(variant.path, to: variant.leaf, in: valid)))
                    }
                    io.channel = channel  // the frames sent; what comes back is opened with the same channel
                    try await io.sendRaw(.with { $0.heartbeat = .init() })  // in the clear: ends any session it reaches
                    var responses = 0
                    while try await io.next() != nil { responses += 1 }
                    return responses
                }
                return CallOutcome(code: nil, message: "", responses: responses)
            } catch let error as RPCError {
                return CallOutcome(code: error.code, message: error.message, responses: 0)
            } catch {
                return CallOutcome(code: .unknown, message: "client side: \(error)", responses: 0)
            }
        }
    }
}
