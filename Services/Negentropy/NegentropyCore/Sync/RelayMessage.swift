import Foundation

/// A frame a relay sends to a client, as the sync initiator reads it.
enum RelayMessage: Sendable {
    case negMessage(subscription: String, hex: String)
    case negError(subscription: String, reason: String)
    case notice(String)
    case closed(subscription: String, reason: String)
    /// `event` is nil when the object is not a well-formed event.
    case event(subscription: String, event: NostrEvent?)
    case endOfStoredEvents(subscription: String)
    case ok(eventID: String, accepted: Bool, message: String)
    case other

    init(text: String) {
        // The frame a sync receives most, decoded in one pass.
        if text.hasPrefix("[\"EVENT\""), let frame = try? JSONDecoder().decode(SubscriptionEventFrame.self, from: Data(text.utf8)) {
            self = .event(subscription: frame.subscription, event: frame.event)
            return
        }
        guard let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any], let verb = frame.first as? String else {
            self = .other
            return
        }
        func string(_ index: Int) -> String { index < frame.count ? frame[index] as? String ?? "" : "" }
        switch verb {
        case "NEG-MSG": self = .negMessage(subscription: string(1), hex: string(2))
        case "NEG-ERR": self = .negError(subscription: string(1), reason: string(2))
        case "NOTICE": self = .notice(string(1))
        case "CLOSED": self = .closed(subscription: string(1), reason: string(2))
        case "EOSE": self = .endOfStoredEvents(subscription: string(1))
        case "OK": self = .ok(eventID: string(1), accepted: frame.count > 2 && frame[2] as? Bool == true, message: string(3))
        case "EVENT":
            let event = (frame.count > 2 ? frame[2] as? [String: Any] : nil).flatMap { object in
                (try? JSONSerialization.data(withJSONObject: object)).flatMap { try? JSONDecoder().decode(NostrEvent.self, from: $0) }
            }
            self = .event(subscription: string(1), event: event)
        default: self = .other
        }
    }
}

/// `["EVENT", <subscription>, <event>]`.
private struct SubscriptionEventFrame: Decodable {
    var subscription: String
    var event: NostrEvent

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        guard try container.decode(String.self) == "EVENT" else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath, debugDescription: "not an EVENT frame"))
        }
        subscription = try container.decode(String.self)
        event = try container.decode(NostrEvent.self)
    }
}
