import Foundation
import GRPCCore
import NegentropyProtocol
import RecordIdentity
import SwiftProtobuf
import WharfProto
import WharfTestSupport

/// One RPC of the robustness suite. Its hostile requests are generated from the method's input type in the
/// descriptor set; a row adds what a generator cannot know: realistic valid requests (which are also
/// truncated), statuses the spec prescribes for some input, and how to read a stream that never ends.
struct RobustnessRow: Sendable {
    var method: String
    /// Valid requests as a real client sends them.
    var seeds: [[UInt8]] = []
    /// Statuses allowed beyond the usual ones, each for a reason the spec gives.
    var alsoAllowed: Set<RPCError.Code> = []
    /// Responses read before the call is cancelled (for streams that never end, such as health Watch).
    var readAtMost = Int.max
    /// The deadline of each call; a subscription that has nothing to send ends with DEADLINE_EXCEEDED.
    var timeout: Duration = .seconds(30)

    /// Valid message sequences of a stream whose later messages reach other code than the first (the field
    /// walk edits every message of each, after the valid ones before it).
    var laterMessages: [[[UInt8]]] = []

    var service: String { String(method.split(separator: "/").first ?? "") }

    /// What the field walk edits: each seed as a call of its own (or the plausible message when there is
    /// none), and the longer conversations.
    var conversations: [[[UInt8]]] {
        let openings = seeds.isEmpty ? [HostileMessages(schema: .shared).plausible(ProtoSchema.shared.methods[method]?.input ?? "", depth: 0)] : seeds
        return openings.map { [$0] } + laterMessages
    }
}

enum RobustnessTable {
    /// Statuses that name what was wrong with a request. INTERNAL, UNKNOWN, UNAVAILABLE and DATA_LOSS are
    /// not among them: bad input answered with one of those is a defect (or a crash seen by the client).
    static let namedStatuses: Set<RPCError.Code> = [
        .invalidArgument, .notFound, .resourceExhausted, .failedPrecondition, .outOfRange, .permissionDenied,
        .unauthenticated, .alreadyExists,
    ]

    /// A well-formed sync id no sync has.
    static let unknownSyncID = "00000000-0000-4000-8000-000000000000"

    static var rows: [RobustnessRow] {
        let cid = vectorCID
        let record = vectorRecord
        let ref = bytes(Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = cid })
        let digest = Data(repeating: 0x11, count: 32)
        let negentropyOpen = (try? Negentropy(storage: try SortedItems([])).initiate()) ?? [0x61]
        let filter = Orlysync_Common_V1_Filter.with {
            $0.kinds = [1]; $0.limit = 10
        }
        let skill = Routing_V1_RecordQuery.with {
            $0.type = .skill; $0.value = "natural_language_processing"
        }
        return [
            // agntcy.dir.store.v1.StoreService
            RobustnessRow(method: "/agntcy.dir.store.v1.StoreService/Push", seeds: [bytes(record)]),
            RobustnessRow(method: "/agntcy.dir.store.v1.StoreService/Pull", seeds: [ref]),
            RobustnessRow(method: "/agntcy.dir.store.v1.StoreService/Lookup", seeds: [ref]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.StoreService/Delete", seeds: [bytes(Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = "baeareiunknown" })]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.StoreService/PushReferrer",
                seeds: [
                    bytes(
                        Agntcy_Dir_Store_V1_PushReferrerRequest.with {
                            $0.recordRef = .with { $0.cid = cid }
                            $0.publicKey = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"
                        })
                ]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.StoreService/PullReferrer",
                seeds: [
                    bytes(
                        Agntcy_Dir_Store_V1_PullReferrerRequest.with {
                            $0.recordRef = .with { $0.cid = cid }
                            $0.pullPublicKey = true
                        })
                ]),
            // wharf.store.v1: registry credentials (administrative) and reconciliation of the CID set
            RobustnessRow(
                method: "/wharf.store.v1.RegistryCredentials/Issue",
                seeds: [
                    bytes(
                        Wharf_Store_V1_IssueCredentialsRequest.with {
                            $0.nodeID = "robustness-node"
                            $0.ttlSeconds = 60
                        })
                ]),
            RobustnessRow(
                method: "/wharf.store.v1.RegistryCredentials/Revoke",
                seeds: [
                    bytes(
                        Wharf_Store_V1_RevokeCredentialsRequest.with {
                            $0.nodeID = "robustness-node"
                        })
                ]),
            RobustnessRow(
                method: "/wharf.store.v1.RegistryCredentials/List", seeds: [bytes(Wharf_Store_V1_ListCredentialsRequest.with { $0.limit = 10 })]),
            RobustnessRow(
                method: "/wharf.store.v1.RecordCatalog/Summarize", seeds: [bytes(Wharf_Store_V1_SummarizeRecordsRequest.with { $0.recent = 10 })]),
            RobustnessRow(
                method: "/wharf.store.v1.RecordReconciliation/Reconcile",
                seeds: [
                    bytes(
                        Wharf_Store_V1_ReconcileMessage.with {
                            $0.negentropy = Data(negentropyOpen)
                        })
                ]),
            RobustnessRow(
                method: "/wharf.store.v1.RecordReconciliation/Initiate", seeds: [bytes(Wharf_Store_V1_ReconcileMessage())],
                laterMessages: [
                    [bytes(Wharf_Store_V1_ReconcileMessage()), bytes(Wharf_Store_V1_ReconcileMessage.with { $0.negentropy = Data(negentropyOpen) })]
                ]),
            RobustnessRow(
                method: "/wharf.store.v1.RecordReconciliation/WatchRecords", seeds: [bytes(Wharf_Store_V1_WatchRecordsRequest())],
                readAtMost: 1),
            RobustnessRow(
                method: "/wharf.store.v1.RecordTransfer/ExportRecords",
                seeds: [
                    bytes(
                        Wharf_Store_V1_ExportRequest.with {
                            $0.cids = [cid, "baeareiexample"]
                            $0.referrers = true
                        })
                ]),
            // A record that imports (each message is a statement, as a Push is), and one whose CID does not match.
            RobustnessRow(
                method: "/wharf.store.v1.RecordTransfer/ImportRecords",
                seeds: [
                    bytes(
                        Wharf_Store_V1_ImportRequest.with {
                            let json = Array(#"{"name":"robustness-import","schema_version":"0.7.0","version":"v1"}"#.utf8)
                            $0.records = [
                                .with {
                                    $0.cid = RecordCID.of(canonicalJSON: json)
                                    $0.canonicalJson = Data(json)
                                }
                            ]
                        }),
                    bytes(
                        Wharf_Store_V1_ImportRequest.with {
                            $0.records = [
                                .with {
                                    $0.cid = cid
                                    $0.canonicalJson = Data(#"{"name":"robustness","schema_version":"0.7.0","version":"v1"}"#.utf8)
                                    $0.publicKey = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
                                }
                            ]
                        }),
                ]),
            // agntcy.dir.store.v1.SyncService (the remote of a seeded sync refuses connections: its rounds fail)
            RobustnessRow(
                method: "/agntcy.dir.store.v1.SyncService/CreateSync",
                seeds: [
                    bytes(
                        Agntcy_Dir_Store_V1_CreateSyncRequest.with {
                            $0.remoteDirectoryURL = "http://127.0.0.1:1"
                            $0.cids = [cid]
                        })
                ]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.SyncService/ListSyncs",
                seeds: [
                    bytes(
                        Agntcy_Dir_Store_V1_ListSyncsRequest.with {
                            $0.limit = 10
                            $0.offset = 0
                        })
                ]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.SyncService/GetSync",
                seeds: [
                    bytes(
                        Agntcy_Dir_Store_V1_GetSyncRequest.with {
                            $0.syncID = unknownSyncID
                        })
                ]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.SyncService/DeleteSync",
                seeds: [
                    bytes(
                        Agntcy_Dir_Store_V1_DeleteSyncRequest.with {
                            $0.syncID = unknownSyncID
                        })
                ]),
            RobustnessRow(
                method: "/agntcy.dir.store.v1.SyncService/RequestRegistryCredentials",
                seeds: [bytes(Agntcy_Dir_Store_V1_RequestRegistryCredentialsRequest.with { $0.requestingNodeID = "robustness-node" })]),
            // wharf.sync.v1.SyncProgress (RevokeRegistryCredentials is administrative)
            RobustnessRow(
                method: "/wharf.sync.v1.SyncProgress/GetSyncProgress",
                seeds: [
                    bytes(
                        Wharf_Sync_V1_GetSyncProgressRequest.with {
                            $0.syncID = unknownSyncID
                        })
                ]),
            RobustnessRow(
                method: "/wharf.sync.v1.SyncProgress/RevokeRegistryCredentials",
                seeds: [
                    bytes(
                        Wharf_Sync_V1_RevokeRegistryCredentialsRequest.with {
                            $0.nodeID = "robustness-node"
                        })
                ]),
            // v1sync (the backrest hub): a first item that is no handshake, a stale vector handshake, protocol 3's
            // openings, and the hub's own services
            RobustnessRow(
                method: "/v1sync.BackrestSyncService/Sync",
                seeds: [
                    bytes(V1sync_SyncStreamItem.with { $0.heartbeat = .init() }),
                    bytes(
                        V1sync_SyncStreamItem.with {
                            $0.handshake = .with {
                                $0.protocolVersion = 1
                                $0.publicKey = .with {
                                    $0.keyid = "ecdsa.05BlKD2qFJGT19XtUPlLTGCwYPD_jrSmOlLgPXQVgZ0";
                                    $0.ed25519Pub = "-----BEGIN EC PUBLIC-----\n-----END EC PUBLIC-----\n"
                                }
                                $0.instanceID = .with {
                                    $0.keyid = "ecdsa.x"; $0.payload = Data("robustness".utf8); $0.signature = Data([0x30, 0x00]);
                                    $0.timestampMillis = 1
                                }
                            }
                        }),
                    // Protocol 3's opening (backrest 1.13+): a KEM key exchange with a key of the right length but
                    // no valid ML-KEM key, then an encrypted frame before any exchange.
                    bytes(
                        Wharf_Backrest_Protocol3_SyncStreamItem.with {
                            $0.establishSharedSecret = .with {
                                $0.protocolVersion = 1; $0.kemPublicKey = Data(repeating: 0xFF, count: 1665)
                            }
                        }),
                    bytes(
                        Wharf_Backrest_Protocol3_SyncStreamItem.with {
                            $0.encrypted = .with {
                                $0.nonce = Data(count: 12); $0.ciphertext = Data(count: 32)
                            }
                        }),
                ]),
            // With subscribe set the stream stays open for changes; with no peer state to send, the call's
            // deadline ends it.
            RobustnessRow(
                method: "/v1sync.BackrestSyncStateService/GetPeerSyncStatesStream",
                seeds: [bytes(V1sync_SyncStateStreamRequest.with { $0.subscribe = false })],
                alsoAllowed: [.deadlineExceeded], timeout: .seconds(2)),
            RobustnessRow(method: "/wharf.sync.v1.BackrestHub/GetIdentity"),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/AddClient",
                seeds: [
                    bytes(
                        Wharf_Sync_V1_AddClientRequest.with {
                            $0.instanceID = "robustness-client"; $0.keyid = "ecdsa.not-a-keyid"
                        })
                ]),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/RemoveClient",
                seeds: [bytes(Wharf_Sync_V1_RemoveClientRequest.with { $0.keyid = "ecdsa.unknown" })]),
            RobustnessRow(method: "/wharf.sync.v1.BackrestHub/ListClients"),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/PushConfig", seeds: [bytes(Wharf_Sync_V1_PushConfigRequest.with { $0.keyid = "ecdsa.unknown" })]),
            RobustnessRow(
                method: "/v1sync.BackrestSyncStateService/SetRemoteClientConfig",
                seeds: [
                    bytes(
                        Wharf_Backrest_Protocol3_SetRemoteClientConfigRequest.with {
                            $0.peerKeyid = "ed25519.unknown"
                            $0.repos = [
                                .with {
                                    $0.id = "offsite"; $0.uri = "/srv/restic"
                                }
                            ]
                            $0.plansToDelete = ["old"]
                        })
                ]),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/CreatePairingToken",
                seeds: [
                    bytes(
                        Wharf_Sync_V1_CreatePairingTokenRequest.with {
                            $0.label = "robustness"; $0.ttlSeconds = 60; $0.maxUses = 1
                            $0.permissions = [
                                .with {
                                    $0.type = .permissionReadOperations; $0.scopes = ["*"]
                                }
                            ]
                        })
                ]),
            RobustnessRow(method: "/wharf.sync.v1.BackrestHub/ListPairingTokens"),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/RevokePairingToken",
                seeds: [bytes(Wharf_Sync_V1_RevokePairingTokenRequest.with { $0.id = "pt-000000000000" })]),
            RobustnessRow(method: "/wharf.sync.v1.BackrestHub/ListRefusedPeers"),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/PutSharedRepo",
                seeds: [
                    bytes(
                        Wharf_Sync_V1_PutSharedRepoRequest.with {
                            $0.repo = .with {
                                $0.id = "robustness-shared"; $0.uri = "/srv/restic"; $0.guid = "robustness-guid"
                            }
                        })
                ]),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/RemoveSharedRepo",
                seeds: [bytes(Wharf_Sync_V1_RemoveSharedRepoRequest.with { $0.id = "robustness-absent" })]),
            RobustnessRow(method: "/wharf.sync.v1.BackrestHub/ListSharedRepos"),
            RobustnessRow(
                method: "/wharf.sync.v1.BackrestHub/ListOperations",
                seeds: [
                    bytes(
                        Wharf_Sync_V1_ListOperationsRequest.with {
                            $0.planID = "daily"; $0.kind = "backup"; $0.limit = 10
                        })
                ]),
            // routing.v1.RoutingService (List includes the legacy list request; max_hops > 20 is UNKNOWN as upstream)
            RobustnessRow(method: "/routing.v1.RoutingService/Publish", seeds: [bytes(Routing_V1_PublishRequest.with { $0.recordCid = cid })]),
            RobustnessRow(
                method: "/routing.v1.RoutingService/Unpublish", seeds: [bytes(Routing_V1_UnpublishRequest.with { $0.recordCid = "baeareiunknown" })]),
            RobustnessRow(
                method: "/routing.v1.RoutingService/Search",
                seeds: [
                    bytes(
                        Routing_V1_SearchRequest.with {
                            $0.queries = [
                                skill,
                                .with {
                                    $0.type = .locator; $0.value = "docker_image"
                                },
                            ]
                            $0.limit = 10
                            $0.minMatchScore = 1
                        })
                ]),
            RobustnessRow(
                method: "/routing.v1.RoutingService/List",
                seeds: [
                    bytes(
                        Routing_V1_ListRequest.with {
                            $0.queries = [skill]; $0.limit = 10
                        }),
                    bytes(Routing_V1_ListRequest.with { $0.legacyListRequest = .with { $0.labels = ["/skills/natural_language_processing"] } }),
                    bytes(
                        Routing_V1_ListRequest.with {
                            $0.legacyListRequest = .with {
                                $0.maxHops = 3; $0.ref = .with { $0.cid = cid }
                            }
                        }),
                ], alsoAllowed: [.unknown]),
            // wharf.routing.v1.PeerAnnouncements (between routing nodes; not routed by the gateway)
            RobustnessRow(
                method: "/wharf.routing.v1.PeerAnnouncements/Announce",
                seeds: [
                    bytes(
                        Wharf_Routing_V1_AnnounceRequest.with {
                            $0.peer = .with {
                                $0.id = "stranger"; $0.addrs = ["127.0.0.1:1"]
                            }
                            $0.provided = [
                                .with {
                                    $0.recordCid = cid; $0.labels = ["/skills/x"]
                                }
                            ]
                        })
                ]),
            // wharf.routing.v1.RecordPublishing (for this node's sync; not routed by the gateway). An oversized
            // or unknown CID is answered in-band, as Publish's status inside the outcome.
            RobustnessRow(
                method: "/wharf.routing.v1.RecordPublishing/PublishMany",
                seeds: [
                    bytes(Wharf_Routing_V1_PublishManyRequest.with { $0.recordCids = [cid, "", "bafy-unknown"] }),
                    bytes(Wharf_Routing_V1_PublishManyRequest.with { $0.recordCids = Array(repeating: cid, count: 1_001) }),
                ]),
            // tvix and snix castore BlobService
            RobustnessRow(
                method: "/tvix.castore.v1.BlobService/Stat",
                seeds: [
                    bytes(
                        Tvix_Castore_V1_StatBlobRequest.with {
                            $0.digest = digest; $0.sendChunks = true
                        })
                ]),
            RobustnessRow(method: "/tvix.castore.v1.BlobService/Read", seeds: [bytes(Tvix_Castore_V1_ReadBlobRequest.with { $0.digest = digest })]),
            RobustnessRow(
                method: "/tvix.castore.v1.BlobService/Put", seeds: [bytes(Tvix_Castore_V1_BlobChunk.with { $0.data = Data("Hello World!".utf8) })],
                laterMessages: [Array(repeating: bytes(Tvix_Castore_V1_BlobChunk.with { $0.data = Data("Hello World!".utf8) }), count: 2)]),
            RobustnessRow(method: "/snix.castore.v1.BlobService/Stat", seeds: [bytes(Snix_Castore_V1_StatBlobRequest.with { $0.digest = digest })]),
            RobustnessRow(method: "/snix.castore.v1.BlobService/Read", seeds: [bytes(Snix_Castore_V1_ReadBlobRequest.with { $0.digest = digest })]),
            RobustnessRow(
                method: "/snix.castore.v1.BlobService/Put", seeds: [bytes(Snix_Castore_V1_BlobChunk.with { $0.data = Data("Hello World!".utf8) })],
                laterMessages: [Array(repeating: bytes(Snix_Castore_V1_BlobChunk.with { $0.data = Data("Hello World!".utf8) }), count: 2)]),
            // orlysync.negentropy.v1.NegentropyService (reconciliation failures are answered in-band, as ORLY)
            RobustnessRow(method: "/orlysync.negentropy.v1.NegentropyService/Ready"),
            RobustnessRow(method: "/orlysync.negentropy.v1.NegentropyService/Start"),
            RobustnessRow(method: "/orlysync.negentropy.v1.NegentropyService/Stop"),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/HandleNegOpen",
                seeds: [
                    bytes(
                        Orlysync_Negentropy_V1_NegOpenRequest.with {
                            $0.connectionID = "robustness"
                            $0.subscriptionID = "seed"
                            $0.filter = filter
                            $0.initialMessage = Data(negentropyOpen)
                        })
                ]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/HandleNegMsg",
                seeds: [
                    bytes(
                        Orlysync_Negentropy_V1_NegMsgRequest.with {
                            $0.connectionID = "robustness"
                            $0.subscriptionID = "seed"
                            $0.message = Data(negentropyOpen)
                        })
                ]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/HandleNegClose",
                seeds: [
                    bytes(
                        Orlysync_Negentropy_V1_NegCloseRequest.with {
                            $0.connectionID = "robustness"
                            $0.subscriptionID = "seed"
                        })
                ]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/SyncWithPeer",
                seeds: [
                    bytes(
                        Orlysync_Negentropy_V1_SyncPeerRequest.with {
                            $0.peerURL = "ws://127.0.0.1:1"
                            $0.filter = filter
                        })
                ]),
            RobustnessRow(method: "/orlysync.negentropy.v1.NegentropyService/GetSyncStatus"),
            RobustnessRow(method: "/orlysync.negentropy.v1.NegentropyService/GetPeers"),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/AddPeer",
                seeds: [bytes(Orlysync_Negentropy_V1_AddPeerRequest.with { $0.peerURL = "ws://127.0.0.1:1" })]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/RemovePeer",
                seeds: [bytes(Orlysync_Negentropy_V1_RemovePeerRequest.with { $0.peerURL = "ws://127.0.0.1:1" })]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/TriggerSync",
                seeds: [bytes(Orlysync_Negentropy_V1_TriggerSyncRequest.with { $0.peerURL = "ws://127.0.0.1:1" })]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/GetPeerSyncState",
                seeds: [bytes(Orlysync_Negentropy_V1_PeerSyncStateRequest.with { $0.peerURL = "ws://127.0.0.1:1" })]),
            RobustnessRow(method: "/orlysync.negentropy.v1.NegentropyService/ListSessions"),
            RobustnessRow(
                method: "/wharf.negentropy.v1.RelayActivity/ListReconciliations",
                seeds: [bytes(Wharf_Negentropy_V1_ListReconciliationsRequest.with { $0.limit = 10 })]),
            RobustnessRow(
                method: "/orlysync.negentropy.v1.NegentropyService/CloseSession",
                seeds: [
                    bytes(
                        Orlysync_Negentropy_V1_CloseSessionRequest.with {
                            $0.connectionID = "robustness"
                            $0.subscriptionID = "seed"
                        })
                ]),
            // grpc.health.v1.Health, on every server (Watch never ends by itself: read its first answer)
            RobustnessRow(method: "/grpc.health.v1.Health/Check", seeds: [bytes(Grpc_Health_V1_HealthCheckRequest.with { $0.service = "" })]),
            // wharf.gateway.v1.GatewayStatus, answered by the gateway itself (administrative)
            RobustnessRow(method: "/wharf.gateway.v1.GatewayStatus/ListRoutes"),
            // wharf.runtime.v1.ReplicaStatus, answered by every service process for itself (administrative; not routed)
            RobustnessRow(method: "/wharf.runtime.v1.ReplicaStatus/Describe"),
            RobustnessRow(
                method: "/grpc.health.v1.Health/Watch", seeds: [bytes(Grpc_Health_V1_HealthCheckRequest.with { $0.service = "" })], readAtMost: 1),
        ]
    }

    static func bytes(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        (try? message.serializedBytes()) ?? []
    }

    /// The first record of the upstream CID vectors, and its CID.
    static var vectorRecord: Agntcy_Dir_Core_V1_Record {
        guard let vector = firstVector, let record = vector["record"],
            let json = try? JSONSerialization.data(withJSONObject: record),
            let data = try? Google_Protobuf_Struct(jsonUTF8Data: json)
        else { return .init() }
        return .with { $0.data = data }
    }

    static var vectorCID: String { firstVector?["cid"] as? String ?? "" }

    private static var firstVector: [String: Any]? {
        guard let data = try? Data(contentsOf: ProjectPaths.fixture("testdata/agntcy_dir_cid_vectors.json")),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return (object["record_vectors"] as? [[String: Any]])?.first
    }
}
