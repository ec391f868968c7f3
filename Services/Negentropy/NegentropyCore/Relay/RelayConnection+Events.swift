import Foundation
import NegentropyProtocol

/// EVENT: decoded, verified (BIP-340) and stored, then answered with OK; accepted events reach live
/// subscriptions here and on the other replicas.
extension RelayConnection {
    /// An EVENT frame as read: scanned straight into the event when it is shaped as clients write it, else
    /// decoded (other well-formed shapes), else parsed generally so that the answer can name what is wrong.
    func handleEvent(_ text: String) async throws {
        if let event = EventFrameScanner.event(in: text) {
            return try await accept(event, claimedID: event.id)
        }
        if let frame = try? JSONDecoder().decode(EventFrame.self, from: Data(text.utf8)) {
            return try await accept(frame.event, claimedID: frame.event.id)
        }
        guard let frame = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [Any] else {
            return try await output.send(RelayFrame.notice("error: could not parse message: expected a JSON array starting with a string"))
        }
        try await handleEvent(frame)
    }

    func handleEvent(_ frame: [Any]) async throws {
        guard frame.count >= 2, let object = frame[1] as? [String: Any] else {
            return try await output.send(RelayFrame.notice("error: EVENT needs an event object"))
        }
        let claimedID = String((object["id"] as? String ?? "").prefix(64))
        let event: NostrEvent
        do {
            event = try JSONDecoder().decode(NostrEvent.self, from: try JSONSerialization.data(withJSONObject: object))
        } catch {
            return try await output.send(
                RelayFrame.ok(
                    eventID: claimedID, accepted: false,
                    message: "invalid: malformed event (id, pubkey, created_at, kind, tags, content and sig are required, with their NIP-01 types)"))
        }
        try await accept(event, claimedID: claimedID)
    }

    /// Validates, stores and answers one decoded event.
    func accept(_ event: NostrEvent, claimedID: String) async throws {
        let claimedID = String(claimedID.prefix(64))
        do {
            try event.validate()
        } catch {
            return try await output.send(RelayFrame.ok(eventID: claimedID, accepted: false, message: error.description))
        }
        if let refusal = context.limits.eventRules.refusal(of: event, now: EventRules.now) {
            return try await output.send(RelayFrame.ok(eventID: event.id, accepted: false, message: refusal.description))
        }
        // Written once: stored, and sent to the other replicas, as the same text.
        let json = String(decoding: event.json, as: UTF8.self)
        let outcome: EventStore.SaveOutcome
        do {
            outcome = try await context.store.save(event, json: json)
        } catch {
            context.logger.error("event not stored", metadata: ["id": "\(event.id)", "error": "\(String(reflecting: error))"])
            return try await output.send(RelayFrame.ok(eventID: event.id, accepted: false, message: "error: could not store the event, try again"))
        }
        switch outcome {
        case .duplicate(let message):
            try await output.send(RelayFrame.ok(eventID: event.id, accepted: true, message: message))
        case .deleted:
            try await output.send(RelayFrame.ok(eventID: event.id, accepted: false, message: EventStore.SaveOutcome.deletedMessage))
        case .stored, .ephemeral:
            try await output.send(RelayFrame.ok(eventID: event.id, accepted: true, message: ""))
            context.live.deliver(event)
            context.accepted.publish(json: json)
        }
    }
}
