import Crypto
import Foundation

/// The two session keys of a protocol-3 stream, from the KEM's shared secret (§16a, step 1): HPKE base mode
/// with KEM 0x0051 (ML-KEM-1024 + P-384), HKDF-SHA256 and AES-256-GCM, info `backrest-sync-transport-v1`; only
/// the exporter is used, once per direction.
struct TransportKeys {
    static let kemID: UInt16 = 0x0051
    static let kdfID: UInt16 = 0x0001
    static let aeadID: UInt16 = 0x0002
    static let info = Array("backrest-sync-transport-v1".utf8)
    static let initiatorToResponderLabel = Array("backrest-sync-session-key/v1/initiator-to-responder".utf8)
    static let responderToInitiatorLabel = Array("backrest-sync-session-key/v1/responder-to-initiator".utf8)

    /// What the client (the KEM's initiator, which sent its public key) sends with.
    let initiatorToResponder: SymmetricKey
    /// What the hub sends with.
    let responderToInitiator: SymmetricKey

    init(sharedSecret: [UInt8]) {
        let schedule = HPKEKeySchedule<SHA256>(
            suiteID: HPKEKeySchedule<SHA256>.suiteID(kem: Self.kemID, kdf: Self.kdfID, aead: Self.aeadID),
            sharedSecret: sharedSecret, info: Self.info, keyLength: 32, nonceLength: 12)
        initiatorToResponder = SymmetricKey(data: schedule.export(context: Self.initiatorToResponderLabel, length: 32))
        responderToInitiator = SymmetricKey(data: schedule.export(context: Self.responderToInitiatorLabel, length: 32))
    }
}
