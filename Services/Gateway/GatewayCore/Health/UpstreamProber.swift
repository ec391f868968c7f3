import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import WharfProto
import WharfRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Probes every upstream address with `grpc.health.v1.Health/Check` and re-resolves `dns:` targets, on an
/// interval: addresses that fail are ejected (requests try them last), routes without a serving address make
/// the gateway NOT_SERVING.
struct UpstreamProber: Service {
    let gateway: Gateway
    let interval: Duration
    let timeout: Duration

    func run() async throws {
        await repeatUntilShutdown(every: interval) { await probeAll() }
    }

    func probeAll() async {
        await withTaskGroup(of: Void.self) { group in
            for cluster in gateway.allClusters {
                group.addTask { await probe(cluster) }
            }
        }
    }

    private func probe(_ cluster: UpstreamCluster) async {
        if !cluster.dnsTargets.isEmpty {
            var resolved: [HostPort] = []
            for name in cluster.dnsTargets { resolved += await Self.resolve(name) }
            cluster.replaceResolved(resolved)
        }
        let results = await withTaskGroup(of: (HostPort, Bool).self) { group in
            for address in cluster.addresses {
                group.addTask { (address, await check(address)) }
            }
            return await group.reduce(into: [(HostPort, Bool)]()) { $0.append($1) }
        }
        for (address, serving) in results {
            if serving { cluster.recordSuccess(address) } else { cluster.recordFailure(address) }
        }
        gateway.health.update(route: cluster.name, servingAddresses: results.filter(\.1).count)
    }

    private func check(_ address: HostPort) async -> Bool {
        do {
            return try await withDeadline(timeout) {
                let transport = try HTTP2ClientTransport.Posix(
                    target: .dns(host: address.host, port: address.port), transportSecurity: .plaintext)
                return try await withGRPCClient(transport: transport) { client in
                    try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init()).status == .serving
                }
            }
        } catch {
            return false
        }
    }

    /// Every address `name` resolves to (IPv4 and IPv6), with its port.
    static func resolve(_ name: HostPort) async -> [HostPort] {
        await Task.detached {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(name.host, String(name.port), &hints, &list) == 0, let first = list else { return [] }
            defer { freeaddrinfo(first) }
            var addresses: [HostPort] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let entry = cursor {
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                let family = entry.pointee.ai_family
                let ok: Bool = entry.pointee.ai_addr.withMemoryRebound(to: UInt8.self, capacity: 1) { _ in
                    if family == AF_INET {
                        return entry.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                            var ip = address.pointee.sin_addr
                            return inet_ntop(AF_INET, &ip, &text, socklen_t(text.count)) != nil
                        }
                    } else if family == AF_INET6 {
                        return entry.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                            var ip = address.pointee.sin6_addr
                            return inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count)) != nil
                        }
                    }
                    return false
                }
                if ok {
                    let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    let address = HostPort(host: host, port: name.port)
                    if !addresses.contains(address) { addresses.append(address) }
                }
                cursor = entry.pointee.ai_next
            }
            return addresses
        }.value
    }
}
