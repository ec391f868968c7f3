import Crypto
import Foundation

/// One direction of a protocol-3 stream's encryption (§16a, step 2): AES-256-GCM of one serialized inner item per
/// frame, no additional data, tag appended; nonce = 4 zero bytes ‖ a 64-bit big-endian counter from 0. A receiver
/// takes only the nonce it expects next: a replayed, reordered or skipped frame, a bad tag or a frame over the
/// limit ends the stream with the reason (`FrameError`), and the counter never wraps.
package struct SessionFrameCipher {
    static let nonceLength = 12
    static let tagLength = 16

    package enum FrameError: Error, Equatable, CustomStringConvertible {
        case unexpectedNonce(expected: UInt64, received: [UInt8])
        case authenticationFailed(counter: UInt64)
        case frameTooLarge(bytes: Int, limit: Int)
        case counterExhausted

        package var description: String {
            switch self {
            case .unexpectedNonce(let expected, let received):
                let text =
                    received.count == SessionFrameCipher.nonceLength
                    ? "counter \(SessionFrameCipher.counter(of: received).map(String.init) ?? "with a non-zero prefix")" : "\(received.count) bytes"
                return "encrypted frame out of order: expected nonce counter \(expected), got \(text)"
            case .authenticationFailed(let counter): return "encrypted frame \(counter) does not authenticate (bad key or tampered)"
            case .frameTooLarge(let bytes, let limit): return "encrypted frame of \(bytes) bytes is larger than \(limit)"
            case .counterExhausted: return "the stream's nonce counter is exhausted"
            }
        }
    }

    private let key: SymmetricKey
    /// The counter of the next frame (sent or expected).
    private(set) var counter: UInt64
    /// Largest ciphertext (tag included) taken or made.
    let maximumFrameBytes: Int

    init(key: SymmetricKey, maximumFrameBytes: Int, startingAt counter: UInt64 = 0) {
        self.key = key
        self.maximumFrameBytes = maximumFrameBytes
        self.counter = counter
    }

    static func nonce(_ counter: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: counter >> (56 - 8 * $0)) }
    }

    /// The counter a well-formed nonce carries; nil when its first four bytes are not zero.
    static func counter(of nonce: [UInt8]) -> UInt64? {
        guard nonce.count == nonceLength, nonce.prefix(4).allSatisfy({ $0 == 0 }) else { return nil }
        return nonce.dropFirst(4).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Encrypts the next frame.
    mutating func seal(_ plaintext: some DataProtocol) throws -> (nonce: [UInt8], ciphertext: [UInt8]) {
        guard counter < .max else { throw FrameError.counterExhausted }
        let size = plaintext.count.addingReportingOverflow(Self.tagLength)
        guard !size.overflow, size.partialValue <= maximumFrameBytes else {
            throw FrameError.frameTooLarge(bytes: plaintext.count, limit: maximumFrameBytes)
        }
        let nonce = Self.nonce(counter)
        let box = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: nonce))
        counter += 1
        return (nonce, Array(box.ciphertext) + Array(box.tag))
    }

    /// Decrypts the next frame: only the nonce expected next is taken.
    mutating func open(nonce: [UInt8], ciphertext: [UInt8]) throws(FrameError) -> [UInt8] {
        guard ciphertext.count <= maximumFrameBytes else {
            throw .frameTooLarge(bytes: ciphertext.count, limit: maximumFrameBytes)
        }
        guard counter < .max else { throw .counterExhausted }
        guard nonce == Self.nonce(counter) else { throw .unexpectedNonce(expected: counter, received: Array(nonce.prefix(64))) }
        guard ciphertext.count >= Self.tagLength else { throw .authenticationFailed(counter: counter) }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try AES.GCM.Nonce(data: nonce), ciphertext: ciphertext.dropLast(Self.tagLength),
                tag: ciphertext.suffix(Self.tagLength))
            let plaintext = try AES.GCM.open(box, using: key)
            counter += 1
            return Array(plaintext)
        } catch {
            throw .authenticationFailed(counter: counter)
        }
    }
}
