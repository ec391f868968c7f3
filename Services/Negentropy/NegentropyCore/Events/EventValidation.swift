import Foundation
import WharfEncoding

/// Why an event is refused, in NIP-01's machine-readable form (`invalid: …`), as sent in `OK` frames.
public struct EventRejection: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension NostrEvent {
    /// Checks the shape, the id and the BIP-340 signature; the rejection says which failed.
    public func validate(using verifier: SchnorrVerifier = .shared) throws(EventRejection) {
        guard isLowerHex(id, length: 64) else { throw EventRejection("invalid: id must be 64 lower-case hex digits") }
        guard isLowerHex(pubkey, length: 64) else { throw EventRejection("invalid: pubkey must be 64 lower-case hex digits") }
        guard isLowerHex(sig, length: 128) else { throw EventRejection("invalid: sig must be 128 lower-case hex digits") }
        guard created_at >= 0 else { throw EventRejection("invalid: created_at must not be negative") }
        guard (0...65535).contains(kind) else { throw EventRejection("invalid: kind must be between 0 and 65535") }
        guard computedID == id else { throw EventRejection("invalid: event id does not match the event's content") }
        guard let idBytes = Data(hexString: id), let key = Data(hexString: pubkey), let signature = Data(hexString: sig),
            verifier.verify(signature: Array(signature), message: Array(idBytes), xOnlyPublicKey: Array(key))
        else { throw EventRejection("invalid: bad signature") }
    }
}

private func isLowerHex(_ text: String, length: Int) -> Bool {
    text.utf8.count == length && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}
