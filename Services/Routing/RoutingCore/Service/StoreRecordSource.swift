import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceContracts
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import WharfProto
import WharfRuntime

/// Reads records from the store service over gRPC (routing keeps no copy of record data, only labels).
/// Runs its client connections as a service of the routing process.
public final class StoreRecordSource: Service, Sendable {
    public enum Failure: Error, Equatable {
        case unavailable(String)
    }

    let client: GRPCClient<HTTP2ClientTransport.Posix>
    /// ExportRecords, until the store answers UNIMPLEMENTED (an older store).
    private let exportRecords = OptionalRPC()
    /// A store that is (re)starting is waited for, up to the deadline.
    static let callOptions = {
        var options = CallOptions.defaults; options.timeout = .seconds(10); options.waitForReady = true; return options
    }()

    /// `adminToken` identifies routing as this node's own service to the store, which keeps places of its
    /// reconciliation and change feed for such callers.
    public init(address: HostPort, adminToken: SharedSecret? = nil) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: address.host, port: address.port), transportSecurity: .plaintext,
            config: .defaults { $0.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2) })
        client = GRPCClient(transport: transport, interceptors: adminToken.map { [AdminTokenClientInterceptor(token: $0)] } ?? [])
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await client.runConnections()
        } onGracefulShutdown: {
            self.client.beginGracefulShutdown()
        }
    }

    /// The record's data, or nil when the store does not have it.
    public func record(_ cid: String) async throws(Failure) -> Google_Protobuf_Struct? {
        let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
        do {
            let options = Self.callOptions
            return try await store.pull(request: StreamingClientRequest { try await $0.write(.with { $0.cid = cid }) }, options: options) {
                response in
                for try await record in response.messages { return record.data }
                return nil
            }
        } catch let error as RPCError where error.code == .notFound {
            return nil
        } catch {
            throw .unavailable("\(error)")
        }
    }

    /// The records of `cids` in order, nil where the store has none: in bulk as canonical JSON (the store's
    /// RecordTransfer), or, from a store without it, one Pull stream unless some are missing.
    public func records(_ cids: [String]) async throws(Failure) -> [Agntcy_Dir_Core_V1_Record?] {
        guard !cids.isEmpty else { return [] }
        do {
            return try await exportRecords.call(
                {
                    let exported = try await Wharf_Store_V1_RecordTransfer.Client(wrapping: client).exportEach(
                        cids, referrers: false, options: Self.callOptions)
                    return exported.map { record in
                        // The store's own canonical JSON; a row that does not parse is reported as missing.
                        guard record.found, let data = try? Google_Protobuf_Struct(jsonUTF8Data: record.canonicalJson) else { return nil }
                        return .with { $0.data = data }
                    }
                },
                otherwise: {
                    try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pullEach(cids, options: Self.callOptions)
                })
        } catch {
            throw .unavailable("\(error)")
        }
    }

    /// Whether the store has `cid` (a Lookup; cheaper than pulling the data).
    public func exists(_ cid: String) async throws(Failure) -> Bool {
        let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
        do {
            return try await store.lookup(request: StreamingClientRequest { try await $0.write(.with { $0.cid = cid }) }, options: Self.callOptions) {
                response in
                for try await _ in response.messages { return true }
                return false
            }
        } catch let error as RPCError where error.code == .notFound {
            return false
        } catch {
            throw .unavailable("\(error)")
        }
    }
}
