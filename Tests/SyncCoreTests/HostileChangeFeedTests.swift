import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import SyncCore

/// A remote whose change feed (WatchRecords) sends what no store would: a megabyte where a CID belongs. The
/// follower keeps only CIDs, and such a change fails the round with a reason naming it (before, every such
/// string was buffered, up to 100,000 of them).
@Suite("sync: a hostile remote's change feed", .serialized)
struct HostileChangeFeedTests {
    /// A remote store whose feed sends one change holding `cid`, then stays open.
    struct HostileFeed: Wharf_Store_V1_RecordReconciliation.SimpleServiceProtocol {
        let cid: String

        func reconcile(
            request: RPCAsyncSequence<Wharf_Store_V1_ReconcileMessage, any Error>,
            response: RPCWriter<Wharf_Store_V1_ReconcileMessage>, context: ServerContext
        ) async throws {
            throw RPCError(code: .unimplemented, message: "not here")
        }

        func initiate(
            request: RPCAsyncSequence<Wharf_Store_V1_ReconcileMessage, any Error>,
            response: RPCWriter<Wharf_Store_V1_InitiatorStep>, context: ServerContext
        ) async throws {
            throw RPCError(code: .unimplemented, message: "not here")
        }

        func watchRecords(
            request: Wharf_Store_V1_WatchRecordsRequest, response: RPCWriter<Wharf_Store_V1_RecordChange>,
            context: ServerContext
        ) async throws {
            try await response.write(
                .with {
                    $0.sequence = 1; $0.cid = cid; $0.present = true
                })
            // Open until the test ends the server.
            try await Task.sleep(for: .seconds(600))
        }
    }

    /// Follows the feed for `window`; a hostile change ends the follow sooner (so its window is wide: parsing a
    /// megabyte on a loaded machine may take seconds).
    private func follow(feedSending cid: String, for window: Duration) async throws -> (error: (any Error)?, changed: [String]) {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext,
            config: .defaults { $0.rpc.maxRequestPayloadSize = 8 << 20 })
        let server = GRPCServer(transport: transport, services: [HostileFeed(cid: cid)])
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            guard let port = try await transport.listeningAddress.ipv4?.port else { throw RPCError(code: .internalError, message: "no port") }
            let remote = try RemoteDirectoryURL(validating: "http://127.0.0.1:\(port)")
            let changed = CollectedCIDs()
            var failure: (any Error)?
            do {
                try await RemoteDirectory.with(remote, at: try #require(IPAddressBytes(literal: "127.0.0.1"))) { directory in
                    try await ChangeFollower.follow(
                        directory, for: window, statusCheck: { _ in true }, catchUp: {},
                        changed: { changed.add($0) })
                }
            } catch {
                failure = error
            }
            // The feed's handler waits for ever: end the server and it with it.
            group.cancelAll()
            return (failure, changed.all)
        }
    }

    @Test("a change whose CID is a megabyte fails the round, naming it; a valid one is handed on")
    func megabyteCID() async throws {
        let hostile = try await follow(feedSending: String(repeating: "b", count: 1 << 20), for: .seconds(60))
        #expect("\(String(describing: hostile.error))".contains("not a CID (1048576 bytes)"), "\(String(describing: hostile.error))")
        #expect(hostile.changed.isEmpty)
        let cid = try #require(try UpstreamRecordVectors.load().first?.cid)
        let valid = try await follow(feedSending: cid, for: .seconds(6))
        #expect(valid.error == nil, "\(String(describing: valid.error))")
        #expect(valid.changed == [cid])
    }
}

final class CollectedCIDs: Sendable {
    private let cids = Mutex<[String]>([])
    func add(_ more: [String]) { cids.withLock { $0 += more } }
    var all: [String] { cids.withLock { $0 } }
}
