import GRPCCore
import Logging
import SwiftProtobuf
import WharfProto
import WharfRuntime

/// `routing.v1.RoutingService` (seed 003 shapes, the documented semantics; spec/agntcy-dir.md §7 and the
/// Wharf decisions): this node's published records indexed by label in PostgreSQL, peers asked over gRPC.
public struct RoutingService: Routing_V1_RoutingService.SimpleServiceProtocol {
    let index: LabelIndex
    let records: StoreRecordSource
    let peers: PeerNetwork
    let announcer: Announcer
    let settings: RoutingSettings
    let logger: Logger

    init(index: LabelIndex, records: StoreRecordSource, peers: PeerNetwork, announcer: Announcer, settings: RoutingSettings, logger: Logger) {
        self.index = index
        self.records = records
        self.peers = peers
        self.announcer = announcer
        self.settings = settings
        self.logger = logger
    }

    var selfPeer: Routing_V1_Peer { settings.selfPeer }

    public func publish(request: Routing_V1_PublishRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await mapped {
            let cid = try Self.requiredCID(request.recordCid)
            let data: Google_Protobuf_Struct?
            do {
                data = try await records.record(cid)
            } catch {
                logger.warning("store unavailable during publish", metadata: ["cid": "\(cid)", "error": "\(error)"])
                throw RoutingError.storeUnavailable
            }
            guard let data else { throw RoutingError.recordNotFound(cid: cid) }
            let labels = RecordLabels.of(data)
            if let problem = RoutingLimits.labelProblem(labels) { throw RoutingError.recordLabelsTooLarge(cid: cid, problem: problem) }
            if try await storage("publish record", { try await index.publish(cid, labels: labels) }) {
                await announcer.enqueue(cid, provided: true)
            }
            return Google_Protobuf_Empty()
        }
    }

    public func unpublish(request: Routing_V1_UnpublishRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await mapped {
            let cid = try Self.requiredCID(request.recordCid)
            if try await storage("unpublish record", { try await index.unpublish(cid) }) {
                await announcer.enqueue(cid, provided: false)
            }
            return Google_Protobuf_Empty()
        }
    }

    // Search and List read the forwarding metadata of peer requests, so they implement the request-level
    // methods; the message-level ones (required by the simple protocol) serve requests without metadata.
    public func search(request: ServerRequest<Routing_V1_SearchRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Routing_V1_SearchResponse>
    {
        StreamingServerResponse { writer in
            try await search(request.message, metadata: request.metadata, into: writer)
            return [:]
        }
    }

    public func list(request: ServerRequest<Routing_V1_ListRequest>, context: ServerContext) async throws
        -> StreamingServerResponse<Routing_V1_ListResponse>
    {
        StreamingServerResponse { writer in
            try await list(request.message, metadata: request.metadata, into: writer)
            return [:]
        }
    }

    public func search(
        request: Routing_V1_SearchRequest, response: RPCWriter<Routing_V1_SearchResponse>,
        context: ServerContext
    ) async throws {
        try await search(request, metadata: [:], into: response)
    }

    public func list(
        request: Routing_V1_ListRequest, response: RPCWriter<Routing_V1_ListResponse>,
        context: ServerContext
    ) async throws {
        try await list(request, metadata: [:], into: response)
    }

    func search(_ request: Routing_V1_SearchRequest, metadata: Metadata, into response: RPCWriter<Routing_V1_SearchResponse>) async throws {
        try await mapped {
            try settings.limits.check(queryValues: request.queries.map(\.value), what: "search")
            let queries = LabelQuery.deduplicated(request.queries)
            guard !queries.isEmpty else { return }  // no queries: score 0, nothing matches
            let minimumScore = max(Int(request.minMatchScore), 1)
            let limit = settings.limits.effectiveLimit(request.limit)
            let maximumResults = settings.limits.maximumResults
            // This node's records and what peers announced (kept until it expires) are read at the same time;
            // what peers answer now (below) wins over their announcements.
            async let localMatches = storage("search") {
                try await index.search(queries, minimumScore: minimumScore, limit: limit)
            }
            async let announcedMatches = storage("search") {
                try await index.search(queries, minimumScore: minimumScore, limit: limit, in: .remote)
            }
            let (local, announced) = try await (localMatches, announcedMatches)
            func answer(_ match: LabelIndex.Match, peer: Routing_V1_Peer) -> Routing_V1_SearchResponse {
                .with {
                    $0.recordCid = match.cid
                    $0.peer = peer
                    $0.matchQueries = match.matchedQueries.map { queries[$0].proto }
                    $0.matchScore = UInt32(match.matchedQueries.count)
                }
            }
            var results = local.map { answer($0, peer: selfPeer) }
            let cached = announced.map { match in
                answer(
                    match,
                    peer: .with {
                        $0.id = match.peerID; $0.addrs = match.peerAddrs
                    })
            }
            let forwarding = PeerNetwork.Forwarding(metadata: metadata, budget: settings.searchHops)
            let remote = await peers.ask(forwarding, from: settings.peerID) { client, peerMetadata, options in
                try await Routing_V1_RoutingService.Client(wrapping: client).search(
                    request, metadata: peerMetadata, options: options
                ) { response in
                    try await Self.collect(response.messages, atMost: maximumResults) { [$0] }
                }
            }
            if !remote.isEmpty || !cached.isEmpty {
                var seen = Set(results.map { SearchKey(cid: $0.recordCid, peer: $0.peer.id) })
                results += (remote + cached).filter { seen.insert(SearchKey(cid: $0.recordCid, peer: $0.peer.id)).inserted }
                results.sort { ($0.matchScore, $1.recordCid, $1.peer.id) > ($1.matchScore, $0.recordCid, $0.peer.id) }
            }
            for result in results.prefix(limit) { try await response.write(result) }
        }
    }

    func list(_ request: Routing_V1_ListRequest, metadata: Metadata, into response: RPCWriter<Routing_V1_ListResponse>) async throws {
        try await mapped {
            if request.hasLegacyListRequest {
                let items = try await legacyList(request.legacyListRequest, metadata: metadata)
                try await response.write(
                    .with {
                        $0.recordCid = ""; $0.legacyListResponse = .with { $0.items = items }
                    })
                return
            }
            try settings.limits.check(queryValues: request.queries.map(\.value), what: "list")
            let queries = LabelQuery.deduplicated(request.queries)
            let limit = settings.limits.effectiveLimit(request.limit)
            // Every query must match: UNSPECIFIED ones always do, an unknown type never does.
            guard !queries.contains(where: { if case .unknown = $0.kind { true } else { false } }) else { return }
            let keys = queries.compactMap(\.matchKey)
            let cids = try await storage("list") { try await index.records(havingAll: keys, limit: limit).map(\.cid) }
            for cid in cids { try await response.write(.with { $0.recordCid = cid }) }
        }
    }

    // MARK: - Legacy list (d47582f1 behaviour, spec §7.1)

    func legacyList(_ request: Routing_V1_LegacyListRequest, metadata: Metadata) async throws -> [Routing_V1_LegacyListResponse.Item] {
        let maxHops = Int(request.maxHops)
        guard maxHops <= RoutingSettings.maximumHops else { throw RoutingError.maximumHopsExceeded }
        try settings.limits.check(queryValues: request.labels, what: "legacy list")
        let maximumResults = settings.limits.maximumResults
        if request.hasRef || maxHops > 0 {
            // Federation: what this node provides for the ref, and what peers answer within the hop budget.
            var items: [Routing_V1_LegacyListResponse.Item] = []
            if request.hasRef {
                items += try await legacyItems(cids: [request.ref.cid], requiredLabels: request.labels)
            } else if !request.labels.isEmpty {
                items += try await legacyLabelQuery(request.labels)
            }
            // The client's max_hops, within this node's own budget (WHARF_ROUTING_SEARCH_HOPS).
            let incoming = PeerNetwork.Forwarding(metadata: metadata, budget: min(maxHops, settings.searchHops))
            var forwarded = request
            forwarded.maxHops = UInt32(max(0, incoming.hops - 1))
            let listRequest = Routing_V1_ListRequest.with { [forwarded] in $0.legacyListRequest = forwarded }
            let remote = await peers.ask(incoming, from: settings.peerID) { client, peerMetadata, options in
                try await Routing_V1_RoutingService.Client(wrapping: client).list(
                    listRequest, metadata: peerMetadata, options: options
                ) { response in
                    try await Self.collect(response.messages, atMost: maximumResults) { $0.legacyListResponse.items }
                }
            }
            var seen = Set(items.map { SearchKey(cid: $0.ref.cid, peer: $0.peer.id) })
            items += remote.filter { seen.insert(SearchKey(cid: $0.ref.cid, peer: $0.peer.id)).inserted }
            return Array(items.prefix(maximumResults))
        }
        if request.labels.isEmpty {
            let counts = try await storage("list labels") { try await index.labelCounts(atMost: maximumResults) }
            return [
                .with {
                    $0.peer = selfPeer
                    $0.labels = counts.keys.sorted()
                    $0.labelCounts = counts
                }
            ]
        }
        return try await legacyLabelQuery(request.labels)
    }

    /// Published records carrying every requested label (a label also matches one under it, `label/…`).
    private func legacyLabelQuery(_ labels: [String]) async throws -> [Routing_V1_LegacyListResponse.Item] {
        let keys = labels.map { $0 + "/" }
        let published = try await storage("list") { try await index.records(havingAll: keys, limit: settings.limits.maximumResults) }
        return published.map { record in item(cid: record.cid, labels: record.labels) }
    }

    private func legacyItems(cids: [String], requiredLabels: [String]) async throws -> [Routing_V1_LegacyListResponse.Item] {
        let labels = try await storage("list") { try await index.labels(of: cids) }
        return cids.compactMap { cid in
            guard let recordLabels = labels[cid] else { return nil }
            guard requiredLabels.allSatisfy({ wanted in recordLabels.contains { $0 == wanted || $0.hasPrefix(wanted + "/") } })
            else { return nil }
            return item(cid: cid, labels: recordLabels)
        }
    }

    private func item(cid: String, labels: [String]) -> Routing_V1_LegacyListResponse.Item {
        .with {
            $0.labels = labels
            $0.peer = selfPeer
            $0.ref = .with { $0.cid = cid }
        }
    }

    // MARK: - Helpers

    /// What a peer's answer stream holds, up to `maximum` items: a peer cannot make this node hold more.
    static func collect<Message: Sendable, Item>(
        _ messages: RPCAsyncSequence<Message, any Error>, atMost maximum: Int, _ items: (Message) -> [Item]
    ) async throws -> [Item] {
        var collected: [Item] = []
        for try await message in messages {
            collected += items(message).prefix(maximum - collected.count)
            if collected.count >= maximum { break }
        }
        return collected
    }

    struct SearchKey: Hashable {
        var cid: String
        var peer: String
    }

    static func requiredCID(_ cid: String) throws(RoutingError) -> String {
        guard !cid.isEmpty else { throw .cidRequired }
        return cid
    }

    private func storage<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(operation, logger: logger, "routing index operation failed", as: RoutingError.storage, body)
    }

    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RoutingError {
            throw error.rpcError
        }
    }
}
