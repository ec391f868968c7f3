import Crypto
import Foundation

/// RFC 9180's key schedule in base mode (no PSK), and its secret exporter, over any HKDF hash: what protocol 3
/// takes from HPKE. backrest never uses HPKE's own encryption, only `Export` (§16a); `key` and `baseNonce` are
/// kept because the RFC's and the draft's vectors pin them, which checks the whole schedule.
struct HPKEKeySchedule<Hash: HashFunction> {
    /// `"HPKE" ‖ kem_id ‖ kdf_id ‖ aead_id`, each two bytes big-endian.
    let suiteID: [UInt8]
    let keyScheduleContext: [UInt8]
    let key: [UInt8]
    let baseNonce: [UInt8]
    let exporterSecret: [UInt8]

    static func suiteID(kem: UInt16, kdf: UInt16, aead: UInt16) -> [UInt8] {
        Array("HPKE".utf8) + [kem, kdf, aead].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// `keyLength` and `nonceLength` are the AEAD's Nk and Nn (AES-256-GCM: 32 and 12).
    init(suiteID: [UInt8], sharedSecret: [UInt8], info: [UInt8], keyLength: Int, nonceLength: Int) {
        self.suiteID = suiteID
        let mode: UInt8 = 0
        let pskIDHash = Self.labeledExtract(suiteID: suiteID, salt: [], label: "psk_id_hash", ikm: [])
        let infoHash = Self.labeledExtract(suiteID: suiteID, salt: [], label: "info_hash", ikm: info)
        let context = [mode] + pskIDHash + infoHash
        keyScheduleContext = context
        let secret = Self.labeledExtract(suiteID: suiteID, salt: sharedSecret, label: "secret", ikm: [])
        key = Self.labeledExpand(suiteID: suiteID, prk: secret, label: "key", info: context, length: keyLength)
        baseNonce = Self.labeledExpand(suiteID: suiteID, prk: secret, label: "base_nonce", info: context, length: nonceLength)
        exporterSecret = Self.labeledExpand(
            suiteID: suiteID, prk: secret, label: "exp", info: context, length: Hash.Digest.byteCount)
    }

    /// `Export(exporter_context, L)`.
    func export(context: [UInt8], length: Int) -> [UInt8] {
        Self.labeledExpand(suiteID: suiteID, prk: exporterSecret, label: "sec", info: context, length: length)
    }

    static func labeledExtract(suiteID: [UInt8], salt: [UInt8], label: String, ikm: [UInt8]) -> [UInt8] {
        let labeled = Array("HPKE-v1".utf8) + suiteID + Array(label.utf8) + ikm
        let prk = HKDF<Hash>.extract(inputKeyMaterial: SymmetricKey(data: labeled), salt: salt)
        return Array(prk)
    }

    /// `length` is at most 255 × the hash's size (HKDF's own limit; every caller here asks for far less).
    static func labeledExpand(suiteID: [UInt8], prk: [UInt8], label: String, info: [UInt8], length: Int) -> [UInt8] {
        let labeled =
            [UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)] + Array("HPKE-v1".utf8) + suiteID
            + Array(label.utf8) + info
        let output = HKDF<Hash>.expand(pseudoRandomKey: SymmetricKey(data: prk), info: labeled, outputByteCount: length)
        return output.withUnsafeBytes { Array($0) }
    }
}
