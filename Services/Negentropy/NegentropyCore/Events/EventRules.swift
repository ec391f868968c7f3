import Foundation

/// What the relay accepts beyond a valid signature: bounds that keep one event from costing the database or
/// the live matcher more than its bytes, and from ruling limited queries for ever (README "Limits").
public struct EventRules: Sendable, Equatable {
    /// Tags one event may carry (strfry's default `maxNumTags`).
    public var maximumTags = 2_000
    /// How far in the future `created_at` may be (strfry's `rejectEventsNewerThanSeconds`, NIP-22's spirit).
    public var maximumFuture: Duration = .seconds(900)
    /// Longest value a tag may have and still be indexed for `#x` filters, and longest `d` tag an addressable
    /// event may have (PostgreSQL's index entries hold about 2.7 kB; filters refuse longer values alike).
    public static let maximumIndexedValueBytes = 1_024

    public init() {}

    /// Why `event` is refused at `now` (Unix seconds), in NIP-01's `invalid:` form; nil when accepted.
    public func refusal(of event: NostrEvent, now: Int64) -> EventRejection? {
        if event.tags.count > maximumTags {
            return EventRejection("invalid: \(event.tags.count) tags; at most \(maximumTags) per event")
        }
        let margin = maximumFuture.components.seconds
        let (latest, overflow) = now.addingReportingOverflow(margin)
        if !overflow, event.created_at > latest {
            return EventRejection("invalid: created_at is more than \(margin) seconds in the future")
        }
        if let address = EventStore.replaceableAddress(of: event) {
            if address.utf8.count > Self.maximumIndexedValueBytes {
                return EventRejection("invalid: d tag of \(address.utf8.count) bytes; at most \(Self.maximumIndexedValueBytes)")
            }
            if address.utf8.contains(0) { return EventRejection("invalid: d tag contains a NUL character") }
        }
        return nil
    }

    /// The current time as Nostr counts it.
    public static var now: Int64 { Int64(Date().timeIntervalSince1970) }
}

extension NostrEvent {
    /// The `tag:value` keys under which the event is found by `#x` filters: single-letter tags by their first
    /// value, except values PostgreSQL cannot index (a NUL, or longer than `maximumIndexedValueBytes`): those
    /// stay in the event's JSON and are not searchable, as no filter may name them.
    var indexKeys: [String] {
        indexedTags.compactMap { tag in
            guard tag.value.utf8.count <= EventRules.maximumIndexedValueBytes, !tag.value.utf8.contains(0),
                !tag.name.utf8.contains(0)
            else { return nil }
            return "\(tag.name):\(tag.value)"
        }
    }
}
