import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing
import WharfProto
import WharfTestSupport

/// The image runs every executable as an unprivileged user (USER wharf; k8s runAsNonRoot). The tests otherwise
/// run as root, which hid that a socket option set at the wrong level (SO_DEBUG, which needs CAP_NET_ADMIN, for
/// TCP_NODELAY) failed every Redis connection and every connection the gateway accepted or opened.
@Suite("The system run as an unprivileged user, as the image runs it", .serialized)
struct UnprivilegedUserTests {
    @Test("every component started as nobody reaches SERVING (Redis and PostgreSQL reached), and the gateway proxies calls")
    func servesAsNobody() async throws {
        let system = try await WharfSystem.start(user: 65_534)
        defer { Task { await system.stop() } }
        for component in system.components {
            let user = try String(contentsOfFile: "/proc/\(component.pid)/status", encoding: .utf8)
                .split(separator: "\n").first { $0.hasPrefix("Uid:") }
            #expect(user?.split(separator: "\t").dropFirst().first == "65534", "\(component.name): \(user ?? "")")
        }
        try await withTestClient(port: system.port("gateway")) { client in
            #expect(try await healthStatus(client, service: "") == .serving)
            let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
            let vector = try #require(try UpstreamRecordVectors.load().first)
            let cids = try await store.push(request: StreamingClientRequest { try await $0.write(vector.record) }) { response in
                try await response.messages.reduce(into: [String]()) { $0.append($1.cid) }
            }
            #expect(cids == [vector.cid])
        }
    }
}
