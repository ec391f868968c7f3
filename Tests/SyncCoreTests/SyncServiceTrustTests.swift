import Foundation
import GRPCCore
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

/// The sync service's operator APIs and what it shows: CreateSync and DeleteSync take the admin token, a remote
/// URL's userinfo is never shown, and RequestRegistryCredentials is rate-limited per caller address.
@Suite("sync: operator APIs, userinfo and credential requests", .serialized)
struct SyncServiceTrustTests {
    static let environment = ["WHARF_SYNC_ALLOWED_REMOTES": "127.0.0.1"]

    @Test("CreateSync and DeleteSync need the admin token; ListSyncs and GetSync never show a URL's password")
    func operatorAPIs() async throws {
        try await withServices([.sync(environment: Self.environment)]) { services in
            let port = services.port("sync")
            let url = "http://mirror-user:hunter2-secret@127.0.0.1:1"
            try await withTestClient(port: port) { anonymous in
                let sync = Agntcy_Dir_Store_V1_SyncService.Client(wrapping: anonymous)
                let refused = await #expect(throws: RPCError.self) { try await sync.createSync(.with { $0.remoteDirectoryURL = url }) }
                #expect(refused?.code == .unauthenticated, "\(String(describing: refused))")
                let created = try await sync.createSync(.with { $0.remoteDirectoryURL = url }, metadata: TestCredentials.adminMetadata).syncID
                let shown = try await sync.getSync(.with { $0.syncID = created }).remoteDirectoryURL
                #expect(shown == "http://127.0.0.1:1", "\(shown)")
                let listed = try await sync.listSyncs(.init()) { try await $0.messages.reduce(into: [String]()) { $0.append($1.remoteDirectoryURL) } }
                #expect(!listed.isEmpty && listed.allSatisfy { !$0.contains("hunter2") && !$0.contains("mirror-user") }, "\(listed)")
                let deleteRefused = await #expect(throws: RPCError.self) { try await sync.deleteSync(.with { $0.syncID = created }) }
                #expect(deleteRefused?.code == .unauthenticated)
                _ = try await sync.deleteSync(.with { $0.syncID = created }, metadata: TestCredentials.adminMetadata)
            }
        }
    }

    @Test("RequestRegistryCredentials: beyond 10 at once from one address, RESOURCE_EXHAUSTED at once")
    func credentialRequestsLimited() async throws {
        try await withServices([.sync(environment: Self.environment)]) { services in
            let port = services.port("sync")
            try await withTestClient(port: port) { client in
                let sync = Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client)
                let options: CallOptions = {
                    var options = CallOptions.defaults; options.timeout = .seconds(2); return options
                }()
                // The local store (127.0.0.1:1) never answers: the first ten wait for it; the eleventh is refused at once.
                let codes = await withTaskGroup(of: RPCError.Code?.self) { group in
                    for index in 0..<11 {
                        group.addTask {
                            if index == 10 { try? await Task.sleep(for: .milliseconds(300)) }
                            do {
                                _ = try await sync.requestRegistryCredentials(.with { $0.requestingNodeID = "node-\(index)" }, options: options)
                                return nil
                            } catch let error as RPCError {
                                return error.code
                            } catch {
                                return .unknown
                            }
                        }
                    }
                    return await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
                }
                #expect(codes.filter { $0 == .resourceExhausted }.count == 1, "\(codes)")
            }
        }
    }
}
