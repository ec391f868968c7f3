import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SyncCore
import Synchronization
import Testing
import WharfProto
import WharfTestSupport

/// A session ends the moment its reason ends: the operator removes its client or changes what it may do, or
/// the client breaks the protocol — not when the client happens to send again. The periodic re-read is set
/// far beyond each test's bound, so the operator's change event is what ends the session.
// A session that outlives its reason hangs the test rather than failing it: the time limit makes it a failure.
@Suite("backrest hub: sessions end with their reason", .serialized, .timeLimit(.minutes(1)))
struct BackrestSessionEndTests {
    static let environment = ["WHARF_BACKREST_AUTHORIZATION_RECHECK": "300s"]
    /// Far below the re-read interval and the client's heartbeat interval (600 s): only the change can end it.
    static let promptly: Duration = .seconds(10)

    /// A sync server with the client `laptop` authorized (read-operations), and an admin client of it.
    private func withAuthorizedLaptop(
        _ body:
            @escaping @Sendable (
                GRPCClient<HTTP2ClientTransport.Posix>, Wharf_Sync_V1_BackrestHub.Client<HTTP2ClientTransport.Posix>,
                BackrestClientIdentity
            ) async throws -> Void
    ) async throws {
        try await withServices([.sync(environment: Self.environment)]) { services in
            let port = services.port("sync")
            try await withTestClient(port: port, admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                let laptop = BackrestClientIdentity(instanceID: "laptop")
                _ = try await hub.addClient(
                    .with {
                        $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = BackrestHubTests.readOperations
                    })
                try await body(client, hub, laptop)
            }
        }
    }

    /// Opens an established session of `laptop`, runs `change` once it is established, and returns how the
    /// session ended and how long after the change.
    private func sessionEnd(
        _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ laptop: BackrestClientIdentity,
        after change: @escaping @Sendable (HubSessionIO) async throws -> Void
    ) async throws -> (RPCError?, Duration) {
        let changed = ChangeInstant()
        do {
            try await withHubSession(client) { io in
                io.send.yield(try laptop.handshake())
                for _ in 0..<4 { _ = try await io.next() }  // handshake, config, resources, request_operations
                changed.mark()
                try await change(io)
                while try await io.next() != nil {}
            }
            return (nil, ContinuousClock.now - (changed.instant ?? .now))
        } catch let error as RPCError {
            return (error, ContinuousClock.now - (changed.instant ?? .now))
        }
    }

    @Test("RemoveClient ends that client's open session at once (PERMISSION_DENIED); its operations sent afterwards are not stored")
    func removedClient() async throws {
        try await withAuthorizedLaptop { client, hub, laptop in
            let (error, elapsed) = try await sessionEnd(client, laptop) { io in
                let removed = try await hub.removeClient(.with { $0.keyid = laptop.identity.publicKey.keyid }).removed
                #expect(removed)
                // The removed client keeps writing: none of it may be stored.
                io.send.yield(created([laptop.operation(1, flow: 1, modno: 1)]))
            }
            #expect(error?.code == .permissionDenied, "\(String(describing: error))")
            #expect(error?.message.contains("removed") == true, "\(String(describing: error))")
            #expect(elapsed < Self.promptly, "the session lasted \(elapsed) after RemoveClient")
            let state = try await BackrestHubTests.state(client, laptop)
            #expect(state?.state != .connected, "\(String(describing: state))")
            // Authorized again, the client catches up from nothing: the operation sent after removal was not stored.
            _ = try await hub.addClient(
                .with {
                    $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = BackrestHubTests.readOperations
                })
            let ask = try await withHubSession(client) { io -> V1sync_SyncStreamItem.SyncActionRequestOperations? in
                io.send.yield(try laptop.handshake())
                for _ in 0..<3 { _ = try await io.next() }
                guard case .requestOperations(let ask)? = try await io.next()?.action else { return nil }
                return ask
            }
            #expect(ask?.highOpid == 0 && ask?.highModno == 0, "\(String(describing: ask))")
        }
    }

    @Test("a change of the client's permissions ends its open session at once, so the new ones apply")
    func changedPermissions() async throws {
        try await withAuthorizedLaptop { client, hub, laptop in
            let (error, elapsed) = try await sessionEnd(client, laptop) { _ in
                _ = try await hub.addClient(
                    .with {
                        $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid
                        $0.permissions = [
                            .with {
                                $0.type = .permissionReadConfig; $0.scopes = ["*"]
                            }
                        ]
                    })
            }
            #expect(error?.code == .permissionDenied, "\(String(describing: error))")
            #expect(error?.message.contains("permissions") == true, "\(String(describing: error))")
            #expect(elapsed < Self.promptly, "the session lasted \(elapsed) after the change")
        }
    }

    @Test("a second handshake is a protocol error that ends the session at once")
    func secondHandshake() async throws {
        try await withAuthorizedLaptop { client, hub, laptop in
            let (error, elapsed) = try await sessionEnd(client, laptop) { io in io.send.yield(try laptop.handshake()) }
            #expect(error?.code == .invalidArgument, "\(String(describing: error))")
            #expect(elapsed < Self.promptly, "the session lasted \(elapsed) after the second handshake")
            #expect(try await BackrestHubTests.state(client, laptop)?.state == .errorProtocol)
        }
    }
}

/// When a test made its change (set from the session's task, read after it).
private final class ChangeInstant: Sendable {
    private let value = Mutex<ContinuousClock.Instant?>(nil)
    func mark() { value.withLock { $0 = .now } }
    var instant: ContinuousClock.Instant? { value.withLock { $0 } }
}
