import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RecordIdentity
import ServiceContracts
import Synchronization
import WharfProto
import WharfRuntime

/// The remote Directory of one sync, reached at its `remote_directory_url` as a gRPC target (upstream dials
/// the URL's host:port; `https://` means TLS). Used for one mirror round at a time.
final class RemoteDirectory: Sendable {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    /// ExportRecords, until the remote answers UNIMPLEMENTED (it is not a Wharf node).
    private let exportRecords = OptionalRPC()

    init(client: GRPCClient<HTTP2ClientTransport.Posix>) {
        self.client = client
    }
    static let callOptions = {
        var options = CallOptions.defaults; options.timeout = .seconds(60); return options
    }()

    /// Runs `body` with a client of `remote` at `address` (the address the allow list checked: the name is
    /// never resolved again, but stays the `:authority` and the TLS server name), connected for the call.
    static func with<T: Sendable>(
        _ remote: RemoteDirectoryURL, at address: IPAddressBytes,
        _ body: (RemoteDirectory) async throws -> T
    ) async throws -> T {
        let security: HTTP2ClientTransport.Posix.TransportSecurity = remote.usesTLS ? .tls : .plaintext
        let config = HTTP2ClientTransport.Posix.Config.defaults { $0.http2.authority = remote.host }
        let transport: HTTP2ClientTransport.Posix
        if address.bytes.count == 4 {
            transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: "\(address)", port: remote.port), transportSecurity: security, config: config)
        } else {
            transport = try HTTP2ClientTransport.Posix(
                target: .ipv6(address: "\(address)", port: remote.port), transportSecurity: security, config: config)
        }
        return try await withGRPCClient(transport: transport) { client in try await body(RemoteDirectory(client: client)) }
    }

    func requestRegistryCredentials(nodeID: String) async throws -> Agntcy_Dir_Store_V1_RequestRegistryCredentialsResponse {
        try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).requestRegistryCredentials(
            .with { $0.requestingNodeID = nodeID }, options: Self.callOptions)
    }

    /// A Reconcile stream with the remote store as the responder: sends every message of `requests`, and
    /// yields each reply to `replies` (finished when the remote ends the stream). A remote that is not a
    /// Wharf node answers UNIMPLEMENTED.
    func reconcile(_ requests: AsyncStream<Data>, replies: AsyncStream<Data>.Continuation) async throws {
        defer { replies.finish() }
        try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: client).reconcile(
            request: StreamingClientRequest { writer in
                for await message in requests { try await writer.write(.with { $0.negentropy = message }) }
            }, options: Self.callOptions
        ) { response in
            for try await reply in response.messages { replies.yield(reply.negentropy) }
        }
    }

    /// The records of `cids` the remote has, by CID, as canonical JSON with their referrers: from a Wharf node
    /// in bulk (RecordTransfer's ExportRecords), from any other Directory by Pull and PullReferrer, the JSON
    /// computed here (empty for data that has none: such a record is rejected, never stored).
    func records(_ cids: [String]) async throws -> [String: Wharf_Store_V1_TransferredRecord] {
        guard !cids.isEmpty else { return [:] }
        return try await exportRecords.call(
            {
                let exported = try await Wharf_Store_V1_RecordTransfer.Client(wrapping: client).exportEach(
                    cids, referrers: true, options: Self.callOptions)
                return Dictionary(exported.filter(\.found).map { ($0.cid, $0) }) { first, _ in first }
            }, otherwise: { try await pulledRecords(cids) })
    }

    /// `records` from a Directory without RecordTransfer: Pull and PullReferrer, the canonical JSON computed here.
    private func pulledRecords(_ cids: [String]) async throws -> [String: Wharf_Store_V1_TransferredRecord] {
        let pulled = try await pull(cids)
        var records: [String: Wharf_Store_V1_TransferredRecord] = [:]
        for (cid, record) in pulled {
            records[cid] = .with {
                $0.cid = cid
                $0.found = true
                $0.canonicalJson = Data((try? CanonicalJSON.encode(record.data)) ?? [])
            }
        }
        for referrer in try await referrers(of: cids.filter { pulled[$0] != nil }) {
            switch referrer.options {
            case .signature(let signature)?:
                records[referrer.recordRef.cid]?.signature = signature.signature
                records[referrer.recordRef.cid]?.signaturePayload = signature.annotations["payload"] ?? ""
            case .publicKey(let key)?:
                records[referrer.recordRef.cid]?.publicKey = key
            case nil:
                continue
            }
        }
        return records
    }

    /// Pulls `cids` (one stream unless some are missing); returns the records found, by CID.
    func pull(_ cids: [String]) async throws -> [String: Agntcy_Dir_Core_V1_Record] {
        let answers = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pullEach(cids, options: Self.callOptions)
        var found: [String: Agntcy_Dir_Core_V1_Record] = [:]
        for (cid, record) in zip(cids, answers) { found[cid] = record }
        return found
    }

    /// The records' signature and public key referrers, as PushReferrer requests for the local store: one
    /// PullReferrer stream asks for both of every record (the store answers each request in order).
    func referrers(of cids: [String]) async throws -> [Agntcy_Dir_Store_V1_PushReferrerRequest] {
        guard !cids.isEmpty else { return [] }
        let answers = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pullReferrer(
            request: StreamingClientRequest { writer in
                for cid in cids {
                    let reference = Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = cid }
                    try await writer.write(
                        .with {
                            $0.recordRef = reference; $0.pullSignature = true
                        })
                    try await writer.write(
                        .with {
                            $0.recordRef = reference; $0.pullPublicKey = true
                        })
                }
            }, options: Self.callOptions
        ) { response in try await response.messages.reduce(into: [Agntcy_Dir_Store_V1_PullReferrerResponse]()) { $0.append($1) } }
        guard answers.count == cids.count * 2 else {
            throw RPCError(code: .unavailable, message: "the remote answered \(answers.count) referrer requests of \(cids.count * 2)")
        }
        var requests: [Agntcy_Dir_Store_V1_PushReferrerRequest] = []
        for (index, answer) in answers.enumerated() {
            let reference = Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = cids[index / 2] }
            switch answer.response {
            case .signature(let signature) where !signature.signature.isEmpty:
                requests.append(
                    .with {
                        $0.recordRef = reference; $0.signature = signature
                    })
            case .publicKey(let key) where !key.isEmpty:
                requests.append(
                    .with {
                        $0.recordRef = reference; $0.publicKey = key
                    })
            default:
                continue
            }
        }
        return requests
    }
}
