import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2
import WharfProto

/// `wharfctl routing …`: records published by label (routing.v1.RoutingService), as dirctl's publish and search.
struct Routing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish records by their labels, list and search them.",
        subcommands: [Publish.self, Unpublish.self, List.self, Search.self])

    typealias Client = Routing_V1_RoutingService.Client

    /// Label queries from the command line: `--skill` and `--locator`, each repeatable.
    struct Queries: ParsableArguments {
        @Option(help: "a skill label, e.g. \"Natural Language Processing/Text Completion\" (repeatable)") var skill: [String] = []
        @Option(help: "a locator type, e.g. docker-image (repeatable)") var locator: [String] = []

        var queries: [Routing_V1_RecordQuery] {
            skill.map { value in
                .with {
                    $0.type = .skill; $0.value = value
                }
            }
                + locator.map { value in
                    .with {
                        $0.type = .locator; $0.value = value
                    }
                }
        }

        static func text(_ query: Routing_V1_RecordQuery) -> String {
            switch query.type {
            case .skill: "skill=\(query.value)"
            case .locator: "locator=\(query.value)"
            default: "\(query.type.rawValue)=\(query.value)"
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish stored records, so List and Search find them by their labels.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "record CIDs") var cids: [String]

        func run() async throws { try await Routing.setPublished(true, cids, gateway: gateway) }
    }

    struct Unpublish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw records from List and Search (they stay stored).")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "record CIDs") var cids: [String]

        func run() async throws { try await Routing.setPublished(false, cids, gateway: gateway) }
    }

    /// Publishes or unpublishes `cids` in order on one connection, printing each as it is done; the first
    /// failure ends the command.
    static func setPublished(_ published: Bool, _ cids: [String], gateway: GatewayOptions) async throws {
        try await reportingFailures {
            try await gateway.withClient { client, options in
                for cid in cids {
                    try await setPublished(published, cid, client: client, options: options)
                    emit(gateway.output, text: "\(published ? "published" : "unpublished") \(cid)", json: ["cid": cid, "published": published])
                }
            }
        }
    }

    static func setPublished(_ published: Bool, _ cid: String, client: GRPCClient<HTTP2ClientTransport.Posix>, options: CallOptions) async throws {
        let routing = Client(wrapping: client)
        if published {
            _ = try await routing.publish(.with { $0.recordCid = cid }, options: options)
        } else {
            _ = try await routing.unpublish(.with { $0.recordCid = cid }, options: options)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List this node's published records having every label given.")
        @OptionGroup var gateway: GatewayOptions
        @OptionGroup var labels: Queries
        @Option(help: "at most this many") var limit: UInt32?

        func run() async throws {
            try await reportingFailures {
                let cids = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).list(
                        .with { request in
                            request.queries = labels.queries
                            if let limit { request.limit = limit }
                        }, options: options
                    ) { response in
                        try await BoundedCollection.collect(response.messages, what: "CIDs") { $0.recordCid }
                    }
                }
                for cid in cids { emit(gateway.output, text: cid, json: ["cid": cid]) }
            }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search this node and its peers: records matching at least --min-score of the labels, best first.")
        @OptionGroup var gateway: GatewayOptions
        @OptionGroup var labels: Queries
        @Option(name: .customLong("min-score"), help: "how many of the labels a record must match (default: 1)") var minScore: UInt32?
        @Option(help: "at most this many") var limit: UInt32?

        func run() async throws {
            try await reportingFailures {
                guard !labels.queries.isEmpty else { throw CommandFailure.configuration("routing search: give at least one --skill or --locator") }
                let results = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).search(
                        .with { request in
                            request.queries = labels.queries
                            if let minScore { request.minMatchScore = minScore }
                            if let limit { request.limit = limit }
                        }, options: options
                    ) { response in
                        try await BoundedCollection.collect(response.messages, what: "search results") { $0 }
                    }
                }
                if gateway.output == .text {
                    TextTable(
                        header: ["CID", "SCORE", "MATCHED", "PEER"],
                        rows: results.map { result in
                            [result.recordCid, "\(result.matchScore)", result.matchQueries.map(Queries.text).joined(separator: ", "), result.peer.id]
                        }
                    ).print()
                    return
                }
                for result in results {
                    emit(
                        .json, text: "",
                        json: [
                            "cid": result.recordCid, "score": result.matchScore, "peer": result.peer.id,
                            "matched": result.matchQueries.map(Queries.text),
                        ])
                }
            }
        }
    }
}
