import Foundation
import WharfRuntime

/// The negentropy service's own settings (README.md lists them).
public struct NegentropySettings: Sendable {
    /// The Nostr relay WebSocket endpoint (NIP-01, NIP-77).
    public var relayAddress: HostPort
    /// Largest WebSocket message a client may send.
    public var relayMaximumMessageSize: Int
    public var relayLimits: RelayContext.Limits
    /// Peers added at start (AddPeer adds more; they persist).
    public var peers: [String]
    public var syncInterval: Duration
    /// What peer syncs reconcile (a NIP-01 filter; empty: every event).
    public var syncFilter: NostrFilter
    public var peerSync: PeerSync.Settings
    public var sessionLimits: NegentropySessions.Limits
    public var sessionTimeout: Duration
    /// The credential of relay front-ends calling the gRPC session API (`WHARF_NEGENTROPY_FRONTEND_TOKEN`).
    public var frontEndToken: SharedSecret?
    /// Proxies in front of the relay whose `X-Forwarded-For` is believed (`WHARF_RELAY_TRUSTED_PROXIES`).
    public var relayTrustedProxies: Set<String>
    /// How long a query shaped by a client's filter may run.
    public var relayQueryTimeout: Duration
    /// The resident negentropy indexes (`WHARF_NEGENTROPY_INDEXES`); nil: every session's set is read from
    /// PostgreSQL.
    public var residentIndexes: ResidentIndexes.Settings?

    public init(reader: EnvironmentReader) {
        relayAddress =
            reader.parsed("WHARF_RELAY_LISTEN", default: "0.0.0.0:7777") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            } ?? HostPort(host: "0.0.0.0", port: 7777)
        relayMaximumMessageSize = reader.int("WHARF_RELAY_MAX_MESSAGE_SIZE", default: 1 << 20, range: 4096...(64 << 20))
        relayLimits = RelayContext.Limits()
        relayLimits.subscriptionsPerConnection = reader.int("WHARF_RELAY_MAX_SUBSCRIPTIONS", default: 20, range: 1...1000)
        relayLimits.sessionsPerConnection = reader.int("WHARF_RELAY_MAX_NEG_SESSIONS", default: 8, range: 1...1000)
        relayLimits.maximumFilterLimit = reader.int("WHARF_RELAY_MAX_LIMIT", default: 5000, range: 1...1_000_000)
        relayLimits.connectionsPerAddress = reader.int("WHARF_RELAY_MAX_CONNECTIONS_PER_ADDRESS", default: 64, range: 1...100_000)
        relayLimits.connections = reader.int("WHARF_RELAY_MAX_CONNECTIONS", default: 10_000, range: 1...1_000_000)
        relayLimits.filterBounds.maximumValues = reader.int("WHARF_RELAY_MAX_FILTER_VALUES", default: 1_000, range: 1...1_000_000)
        relayLimits.filterBounds.maximumBytesPerConnection = reader.int("WHARF_RELAY_MAX_FILTER_BYTES", default: 4 << 20, range: 4096...(1 << 30))
        relayLimits.eventRules.maximumTags = reader.int("WHARF_RELAY_MAX_EVENT_TAGS", default: 2_000, range: 1...1_000_000)
        relayLimits.eventRules.maximumFuture = reader.duration("WHARF_RELAY_MAX_FUTURE", default: .seconds(900), minimum: .zero)
        relayLimits.maximumPendingLiveBytes = reader.int("WHARF_RELAY_MAX_PENDING_OUTPUT", default: 4 << 20, range: 4096...(1 << 30))
        relayLimits.eventsInFlight = reader.int("WHARF_RELAY_EVENTS_IN_FLIGHT", default: 1000, range: 1...100_000)
        relayLimits.eventBytesInFlight = reader.int("WHARF_RELAY_EVENT_BYTES_IN_FLIGHT", default: 8 << 20, range: 4096...(1 << 30))
        relayLimits.slowReaderTimeout = reader.duration("WHARF_RELAY_SLOW_READER_TIMEOUT", default: .seconds(30), minimum: .milliseconds(100))
        relayTrustedProxies =
            reader.parsed("WHARF_RELAY_TRUSTED_PROXIES", default: "", display: { $0.sorted().joined(separator: ",") }) {
                text throws(ConfigurationProblem) in
                let addresses = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                return Set(
                    try addresses.map { address throws(ConfigurationProblem) in
                        guard let parsed = IPAddressBytes(literal: address) else {
                            throw ConfigurationProblem(
                                "\"\(address)\" is not an IP address (a trusted proxy is named by the address it connects from)")
                        }
                        return parsed.description
                    })
            } ?? []
        relayQueryTimeout = reader.duration("WHARF_RELAY_QUERY_TIMEOUT", default: .seconds(15), minimum: .milliseconds(100))
        peers =
            reader.parsed("WHARF_NEGENTROPY_PEERS", default: "", display: { $0.joined(separator: ",") }) { text throws(ConfigurationProblem) in
                let urls = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                for url in urls { if case .failure(let problem) = PeerURL.validated(url) { throw ConfigurationProblem(problem.description) } }
                return urls
            } ?? []
        syncInterval = reader.duration("WHARF_NEGENTROPY_INTERVAL", default: .seconds(60), minimum: .seconds(1))
        syncFilter =
            reader.parsed("WHARF_NEGENTROPY_FILTER", default: "") { text throws(ConfigurationProblem) in
                guard !text.isEmpty else { return NostrFilter() }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                    throw ConfigurationProblem("expected a NIP-01 filter as a JSON object")
                }
                do { return try NostrFilter(json: object) } catch let error as FilterError { throw ConfigurationProblem(error.description) } catch {
                    throw ConfigurationProblem("\(error)")
                }
            } ?? NostrFilter()
        peerSync = PeerSync.Settings()
        peerSync.frameSizeLimit = Self.frameSize(reader, "WHARF_NEGENTROPY_FRAME_SIZE", default: 60_000)
        peerSync.initialTimeout = reader.duration("WHARF_NEGENTROPY_PEER_TIMEOUT", default: .seconds(10), minimum: .milliseconds(100))
        peerSync.idleTimeout = reader.duration("WHARF_NEGENTROPY_PEER_IDLE_TIMEOUT", default: .seconds(30), minimum: .milliseconds(100))
        sessionLimits = NegentropySessions.Limits(
            frameSizeLimit: Self.frameSize(reader, "WHARF_NEGENTROPY_RESPONDER_FRAME_SIZE", default: 500_000),
            maximumSetSize: reader.int("WHARF_NEGENTROPY_MAX_SET_SIZE", default: 1_000_000, range: 1...100_000_000),
            maximumSessions: reader.int("WHARF_NEGENTROPY_MAX_SESSIONS", default: 1024, range: 1...1_000_000),
            maximumHeldItems: reader.int("WHARF_NEGENTROPY_MAX_HELD_ITEMS", default: 2_000_000, range: 1...1_000_000_000),
            maximumFrontEndSessions: reader.int("WHARF_NEGENTROPY_MAX_FRONTEND_SESSIONS", default: 256, range: 1...1_000_000))
        frontEndToken = reader.secret("WHARF_NEGENTROPY_FRONTEND_TOKEN")
        peerSync.maximumSetSize = sessionLimits.maximumSetSize
        peerSync.eventRules = relayLimits.eventRules
        peerSync.allowedPeers = reader.allowList("WHARF_NEGENTROPY_ALLOWED_PEERS")
        residentIndexes =
            reader.parsed(
                "WHARF_NEGENTROPY_INDEXES", default: "[]",
                display: { $0.map { "\($0.definitions.count) filters besides every event" } ?? "off" }
            ) { text throws(ConfigurationProblem) in
                try Self.indexSettings(text)
            } ?? ResidentIndexes.Settings()
        sessionTimeout = reader.duration("WHARF_NEGENTROPY_SESSION_TIMEOUT", default: .seconds(300), minimum: .seconds(1))
    }

    /// `off`, or a JSON array of NIP-01 filters with only authors, kinds and tags (`[]`: every event alone).
    static func indexSettings(_ text: String) throws(ConfigurationProblem) -> ResidentIndexes.Settings? {
        if text.trimmingCharacters(in: .whitespaces) == "off" { return nil }
        guard let objects = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] else {
            throw ConfigurationProblem("expected off, or a JSON array of NIP-01 filters such as [{\"kinds\":[1]}]")
        }
        var settings = ResidentIndexes.Settings()
        for object in objects {
            guard let object = object as? [String: Any] else { throw ConfigurationProblem("every indexed filter must be a JSON object") }
            do {
                settings.definitions.append(try IndexDefinition(try NostrFilter(json: object)))
            } catch {
                throw ConfigurationProblem(error.description)
            }
        }
        return settings
    }

    /// A negentropy frame size limit: 0 (unlimited) or at least 4096 bytes, as the protocol requires.
    private static func frameSize(_ reader: EnvironmentReader, _ name: String, default value: Int) -> Int {
        reader.parsed(name, default: String(value)) { text throws(ConfigurationProblem) in
            guard let size = Int(text), size == 0 || (4096...(64 << 20)).contains(size) else {
                throw ConfigurationProblem("expected 0 (unlimited) or a size of at least 4096 bytes, got \"\(text)\"")
            }
            return size
        } ?? value
    }
}
