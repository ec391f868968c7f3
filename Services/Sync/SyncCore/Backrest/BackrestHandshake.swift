import Foundation
import WharfProto

/// Verifies a client's first stream item as backrest does (spec §5.1–5.2), in the order backrest checks:
/// a handshake of protocol 1 with a payload, a signature and a keyid; a public key whose derived keyid is the
/// claimed one; a SignedMessage by that key over the bare payload, at most 5 minutes old; then an authorized
/// client with that keyid and the instance id the payload names.
enum BackrestHandshake {
    static let protocolVersion: Int64 = 1
    static let maximumAge: Int64 = 5 * 60 * 1000

    struct Proven: Sendable {
        var keyid: String
        var instanceID: String
    }

    /// The handshake's proven identity, or why it is not one.
    static func prove(_ item: V1sync_SyncStreamItem, now: Date) throws(BackrestSessionError) -> Proven {
        guard case .handshake(let handshake)? = item.action else {
            throw .unauthenticated("the first message must be a handshake, not \(BackrestSyncHub.describe(item))")
        }
        guard handshake.protocolVersion == protocolVersion else {
            throw .protocolError(
                "unsupported sync protocol version \(handshake.protocolVersion) in a plain handshake; this hub speaks 1 that way, "
                    + "and 3 after an establish_shared_secret key exchange (backrest 1.13+)")
        }
        let signed = handshake.instanceID
        guard !signed.payload.isEmpty, !signed.signature.isEmpty, !handshake.publicKey.keyid.isEmpty else {
            throw .unauthenticated("the handshake lacks an instance id payload, a signature or a keyid")
        }
        let key: BackrestPublicKey
        do {
            key = try BackrestPublicKey(pem: handshake.publicKey.ed25519Pub)
        } catch {
            throw .unauthenticated("the handshake's public key does not parse: \(error)")
        }
        guard key.keyid == handshake.publicKey.keyid else {
            throw .unauthenticated("public key_id provided does not match the derived key")
        }
        guard signed.keyid == key.keyid else {
            throw .unauthenticated("the instance id is signed by keyid \(signed.keyid), not by the handshake's key \(key.keyid)")
        }
        guard key.isValidSignature(signed.signature, over: signed.payload) else {
            throw .unauthenticated("the instance id signature does not verify with keyid \(key.keyid)")
        }
        guard isFresh(signed.timestampMillis, now: now) else {
            throw .unauthenticated("the handshake's timestamp is more than 5 minutes old")
        }
        guard let instanceID = String(validating: signed.payload, as: UTF8.self) else {
            throw .unauthenticated("the signed instance id is not UTF-8")
        }
        return Proven(keyid: key.keyid, instanceID: instanceID)
    }

    /// Whether a handshake stamped `timestampMillis` is at most 5 minutes old at `now` (a stamp in the future is
    /// accepted, as backrest does). Any int64 arrives: the age is computed without overflow, and an age too
    /// large for an int64 (a stamp near `Int64.min`) is too old.
    static func isFresh(_ timestampMillis: Int64, now: Date) -> Bool {
        let nowMillis = Int64(clampingMilliseconds: now.timeIntervalSince1970 * 1000)
        let (age, overflow) = nowMillis.subtractingReportingOverflow(timestampMillis)
        return !overflow && age <= maximumAge
    }

    /// The authorized client the proven identity is, or why it is not one.
    static func authorize(_ proven: Proven, as client: BackrestClients.Client?) throws(BackrestSessionError) -> BackrestClients.Client {
        guard let client else { throw .permissionDenied("peer public key ID \(proven.keyid) not found in known peers") }
        guard client.instanceID == proven.instanceID else {
            throw .permissionDenied(
                "client is not an authorized peer: keyid \(proven.keyid) belongs to instance \(client.instanceID), "
                    + "not \(proven.instanceID)")
        }
        return client
    }
}
