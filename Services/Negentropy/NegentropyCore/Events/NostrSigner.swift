import Foundation
import WharfEncoding
import WharfRuntime

/// Makes signed events from a secret key (tests, benchmarks, tools).
public struct NostrSigner: Sendable {
    public let secretKey: [UInt8]
    public let publicKeyHex: String

    public init?(secretKey: [UInt8]) {
        guard let publicKey = SchnorrVerifier.shared.publicKey(secretKey: secretKey) else { return nil }
        self.secretKey = secretKey
        publicKeyHex = publicKey.hexString
    }

    public func sign(createdAt: Int64, kind: Int, tags: [[String]] = [], content: String) -> NostrEvent {
        var event = NostrEvent(id: "", pubkey: publicKeyHex, created_at: createdAt, kind: kind, tags: tags, content: content, sig: "")
        event.id = event.computedID
        let message = Array(Data(hexString: event.id) ?? Data())
        event.sig = SchnorrVerifier.shared.sign(message: message, secretKey: secretKey)?.hexString ?? ""
        return event
    }
}
