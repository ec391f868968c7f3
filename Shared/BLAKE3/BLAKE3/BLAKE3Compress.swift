import BLAKE3Lanes

/// The BLAKE3 compression function on one block, in plain 32-bit arithmetic: used for what cannot fill
/// SIMD lanes (a partial chunk, the last parents of the tree, the root and its extended output).
enum BLAKE3Compress {
    typealias Words16 = (
        UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
        UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32
    )

    /// Compresses `block` (16 words) into the chaining value `cv` (8 words) and returns all 16 output words.
    @inline(__always)
    static func compress(
        cv: UnsafePointer<UInt32>, block: UnsafePointer<UInt32>, counter: UInt64, blockLength: UInt32, flags: UInt32,
        out: UnsafeMutablePointer<UInt32>
    ) {
        var s: Words16 = (
            cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
            BLAKE3Constants.iv.0, BLAKE3Constants.iv.1, BLAKE3Constants.iv.2, BLAKE3Constants.iv.3,
            UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), blockLength, flags
        )
        var m: Words16 = (
            block[0], block[1], block[2], block[3], block[4], block[5], block[6], block[7],
            block[8], block[9], block[10], block[11], block[12], block[13], block[14], block[15]
        )
        for r in 0..<7 {
            if r > 0 {
                m = (m.2, m.6, m.3, m.10, m.7, m.0, m.4, m.13, m.1, m.11, m.12, m.5, m.9, m.14, m.15, m.8)
            }
            g(&s.0, &s.4, &s.8, &s.12, m.0, m.1)
            g(&s.1, &s.5, &s.9, &s.13, m.2, m.3)
            g(&s.2, &s.6, &s.10, &s.14, m.4, m.5)
            g(&s.3, &s.7, &s.11, &s.15, m.6, m.7)
            g(&s.0, &s.5, &s.10, &s.15, m.8, m.9)
            g(&s.1, &s.6, &s.11, &s.12, m.10, m.11)
            g(&s.2, &s.7, &s.8, &s.13, m.12, m.13)
            g(&s.3, &s.4, &s.9, &s.14, m.14, m.15)
        }
        out[0] = s.0 ^ s.8; out[1] = s.1 ^ s.9; out[2] = s.2 ^ s.10; out[3] = s.3 ^ s.11
        out[4] = s.4 ^ s.12; out[5] = s.5 ^ s.13; out[6] = s.6 ^ s.14; out[7] = s.7 ^ s.15
        out[8] = s.8 ^ cv[0]; out[9] = s.9 ^ cv[1]; out[10] = s.10 ^ cv[2]; out[11] = s.11 ^ cv[3]
        out[12] = s.12 ^ cv[4]; out[13] = s.13 ^ cv[5]; out[14] = s.14 ^ cv[6]; out[15] = s.15 ^ cv[7]
    }

    @inline(__always)
    private static func g(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32, _ x: UInt32, _ y: UInt32) {
        a = a &+ b &+ x
        d = (d ^ a).rotatedRight(16)
        c = c &+ d
        b = (b ^ c).rotatedRight(12)
        a = a &+ b &+ y
        d = (d ^ a).rotatedRight(8)
        c = c &+ d
        b = (b ^ c).rotatedRight(7)
    }
}

extension UInt32 {
    @inline(__always)
    func rotatedRight(_ n: UInt32) -> UInt32 { (self &>> n) | (self &<< (32 &- n)) }
}
