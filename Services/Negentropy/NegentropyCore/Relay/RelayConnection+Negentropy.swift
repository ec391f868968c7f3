import Foundation
import NegentropyProtocol
import WharfEncoding

/// NIP-77 on a relay connection: NEG-OPEN, NEG-MSG and NEG-CLOSE, answered by the replica's sessions.
extension RelayConnection {
    func handleNegOpen(_ frame: [Any]) async throws {
        guard frame.count >= 4, let subscription = frame[1] as? String, let object = frame[2] as? [String: Any],
            let hex = frame[3] as? String
        else {
            let subscription = frame.count >= 2 ? frame[1] as? String ?? "" : ""
            return try await output.send(
                RelayFrame.negError(subscription: subscription, reason: "error: NEG-OPEN needs a subscription id, a filter and an initial message"))
        }
        guard !subscription.isEmpty, subscription.utf8.count <= 256 else {
            return try await output.send(RelayFrame.notice("error: NEG-OPEN needs a subscription id of 1 to 256 bytes"))
        }
        let filter: NostrFilter
        do { filter = try NostrFilter(json: object) } catch {
            return try await output.send(RelayFrame.negError(subscription: subscription, reason: error.description))
        }
        if let refusal = context.limits.filterBounds.refusal(of: filter) {
            return try await output.send(RelayFrame.negError(subscription: subscription, reason: refusal.description))
        }
        guard let message = Data(hexString: hex) else {
            return try await output.send(RelayFrame.negError(subscription: subscription, reason: "invalid: the initial message must be hex"))
        }
        let admitted = negentropySessions.withLock { open -> Bool in
            if !open.contains(subscription), open.count >= context.limits.sessionsPerConnection { return false }
            open.insert(subscription)
            return true
        }
        guard admitted else {
            return try await output.send(
                RelayFrame.negError(
                    subscription: subscription, reason: "blocked: at most \(context.limits.sessionsPerConnection) negentropy sessions per connection")
            )
        }
        let answer: NegentropySessions.Answer
        do {
            answer = try await context.sessions.open(connectionID: id, subscriptionID: subscription, filter: filter, initialMessage: Array(message))
        } catch {
            return try await failSession(subscription, error)
        }
        try await reply(subscription, answer)
    }

    func handleNegMessage(_ frame: [Any]) async throws {
        guard frame.count >= 3, let subscription = frame[1] as? String, let hex = frame[2] as? String else {
            let subscription = frame.count >= 2 ? frame[1] as? String ?? "" : ""
            return try await output.send(
                RelayFrame.negError(subscription: subscription, reason: "error: NEG-MSG needs a subscription id and a message"))
        }
        guard negentropySessions.withLock({ $0.contains(subscription) }) else {
            return try await output.send(RelayFrame.negError(subscription: subscription, reason: "closed: unknown subscription handle"))
        }
        guard let message = Data(hexString: hex) else {
            // NEG-ERR ends the session (NIP-77).
            return try await reply(subscription, NegentropySessions.Answer(error: "invalid: the message must be hex"))
        }
        let answer: NegentropySessions.Answer
        do {
            answer = try await context.sessions.message(connectionID: id, subscriptionID: subscription, message: Array(message))
        } catch {
            return try await failSession(subscription, error)
        }
        try await reply(subscription, answer)
    }

    /// A NEG-MSG reply, or NEG-ERR (which ends the session, NIP-77) with a prefixed reason.
    func reply(_ subscription: String, _ answer: NegentropySessions.Answer) async throws {
        guard !answer.error.isEmpty else {
            return try await output.send(RelayFrame.negMessage(subscription: subscription, message: answer.message))
        }
        negentropySessions.withLock { _ = $0.remove(subscription) }
        try? await context.sessions.close(connectionID: id, subscriptionID: subscription)
        let reason: String
        switch answer.error {
        case NegentropySessions.notFound: reason = "closed: session expired or closed"
        case let text where text.hasPrefix("blocked:") || text.hasPrefix("invalid:"): reason = text
        default: reason = "error: " + answer.error
        }
        try await output.send(RelayFrame.negError(subscription: subscription, reason: reason, limit: answer.limit))
    }

    func failSession(_ subscription: String, _ error: any Error) async throws {
        context.logger.error("negentropy session failed", metadata: ["error": "\(String(reflecting: error))"])
        negentropySessions.withLock { _ = $0.remove(subscription) }
        try await output.send(RelayFrame.negError(subscription: subscription, reason: "error: session registry unavailable, try again"))
    }

    func closeNegentropySessions() async {
        let open = negentropySessions.withLock { sessions in
            defer { sessions.removeAll() }
            return sessions
        }
        for subscription in open { try? await context.sessions.close(connectionID: id, subscriptionID: subscription, reason: .disconnected) }
    }
}
