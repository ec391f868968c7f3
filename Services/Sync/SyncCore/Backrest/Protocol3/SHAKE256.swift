/// SHAKE256 (FIPS 202), which the hybrid KEM's key expansion needs and swift-crypto does not offer: Keccak-f[1600]
/// with a 136-byte rate, domain byte 0x1F. Only the initiator (a client) expands keys; the hub never calls it.
enum SHAKE256 {
    static let rate = 136

    static func hash(_ input: [UInt8], outputLength: Int) -> [UInt8] {
        var state = [UInt64](repeating: 0, count: 25)
        var offset = 0
        // offset never passes input.count: neither expression can overflow.
        while input.count - offset >= rate {
            absorb(input[offset..<offset + rate], into: &state)
            keccakF1600(&state)
            offset += rate
        }
        var last = [UInt8](input[offset...])
        last.append(0x1F)
        last += [UInt8](repeating: 0, count: rate - last.count)
        last[rate - 1] |= 0x80
        absorb(last[...], into: &state)
        keccakF1600(&state)
        var output: [UInt8] = []
        output.reserveCapacity(max(outputLength, 0))
        while output.count < outputLength {
            for lane in 0..<(rate / 8) {
                for byte in 0..<8 where output.count < outputLength {
                    output.append(UInt8(truncatingIfNeeded: state[lane] >> (8 * UInt64(byte))))
                }
            }
            if output.count < outputLength { keccakF1600(&state) }
        }
        return output
    }

    private static func absorb(_ block: ArraySlice<UInt8>, into state: inout [UInt64]) {
        for lane in 0..<(rate / 8) {
            var value: UInt64 = 0
            for byte in 0..<8 { value |= UInt64(block[block.startIndex + lane * 8 + byte]) << (8 * UInt64(byte)) }
            state[lane] ^= value
        }
    }

    private static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    /// Rotation of lane x + 5y.
    private static let rotations: [UInt64] = [
        0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
    ]

    private static func rotate(_ value: UInt64, _ count: UInt64) -> UInt64 {
        count == 0 ? value : (value << count) | (value >> (64 - count))
    }

    static func keccakF1600(_ state: inout [UInt64]) {
        var column = [UInt64](repeating: 0, count: 5)
        var moved = [UInt64](repeating: 0, count: 25)
        for constant in roundConstants {
            for x in 0..<5 { column[x] = state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20] }
            for x in 0..<5 {
                let mix = column[(x + 4) % 5] ^ rotate(column[(x + 1) % 5], 1)
                for y in 0..<5 { state[x + 5 * y] ^= mix }
            }
            for x in 0..<5 {
                for y in 0..<5 { moved[y + 5 * ((2 * x + 3 * y) % 5)] = rotate(state[x + 5 * y], rotations[x + 5 * y]) }
            }
            for y in 0..<5 {
                for x in 0..<5 {
                    state[x + 5 * y] = moved[x + 5 * y] ^ (~moved[(x + 1) % 5 + 5 * y] & moved[(x + 2) % 5 + 5 * y])
                }
            }
            state[0] ^= constant
        }
    }
}
