import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import WharfProto
import WharfRuntime

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
            IPAddressBytes.resolve(name.host).map { HostPort(host: $0.description, port: name.port) }
        }.value
    }
}
