// The BLAKE3 compression function on N inputs at once, one input per SIMD lane (the way the reference
// implementation's hash_many works). Generic and @inlinable so that each kernel module specializes it
// for its vector width with its own target CPU (BLAKE3AVX2 → SIMD8, BLAKE3AVX512 → SIMD16); BlobCore
// uses SIMD4, which every x86-64 and arm64 CPU runs natively.

#if _endian(big)
    #error("BLAKE3Lanes reads message words in host order and assumes a little-endian CPU")
#endif

/// A vector of N 32-bit words that can split two vectors into their even and odd elements (used to
/// transpose N message blocks into 16 word vectors).
///
/// The arithmetic is a protocol requirement on purpose: written in each concrete conformance, `&+` is the
/// standard library's vector builtin, and the element loops of `^`, `|`, `&>>`, `&<<` vectorise around it.
/// Called from generic code, `&+` would be the generic element loop and the whole kernel ended up scalar.
public protocol BLAKE3Lanes: SIMD where Scalar == UInt32 {
    static func deinterleave(_ a: Self, _ b: Self) -> (even: Self, odd: Self)
    static func add(_ a: Self, _ b: Self) -> Self
    static func xor(_ a: Self, _ b: Self) -> Self
    static func rotateRight(_ x: Self, by n: UInt32) -> Self
    static func splat(_ value: UInt32) -> Self
}

extension SIMD4: BLAKE3Lanes where Scalar == UInt32 {
    @inlinable @inline(__always)
    public static func deinterleave(_ a: Self, _ b: Self) -> (even: Self, odd: Self) {
        let both = SIMD8(lowHalf: a, highHalf: b)
        return (both.evenHalf, both.oddHalf)
    }

    @inlinable @inline(__always)
    public static func add(_ a: Self, _ b: Self) -> Self { a &+ b }

    @inlinable @inline(__always)
    public static func xor(_ a: Self, _ b: Self) -> Self { a ^ b }

    @inlinable @inline(__always)
    public static func rotateRight(_ x: Self, by n: UInt32) -> Self {
        (x &>> Self(repeating: n)) | (x &<< Self(repeating: 32 - n))
    }

    @inlinable @inline(__always)
    public static func splat(_ value: UInt32) -> Self { Self(repeating: value) }
}

extension SIMD8: BLAKE3Lanes where Scalar == UInt32 {
    @inlinable @inline(__always)
    public static func deinterleave(_ a: Self, _ b: Self) -> (even: Self, odd: Self) {
        let both = SIMD16(lowHalf: a, highHalf: b)
        return (both.evenHalf, both.oddHalf)
    }

    @inlinable @inline(__always)
    public static func add(_ a: Self, _ b: Self) -> Self { a &+ b }

    @inlinable @inline(__always)
    public static func xor(_ a: Self, _ b: Self) -> Self { a ^ b }

    @inlinable @inline(__always)
    public static func rotateRight(_ x: Self, by n: UInt32) -> Self {
        (x &>> Self(repeating: n)) | (x &<< Self(repeating: 32 - n))
    }

    @inlinable @inline(__always)
    public static func splat(_ value: UInt32) -> Self { Self(repeating: value) }
}

extension SIMD16: BLAKE3Lanes where Scalar == UInt32 {
    @inlinable @inline(__always)
    public static func deinterleave(_ a: Self, _ b: Self) -> (even: Self, odd: Self) {
        let both = SIMD32(lowHalf: a, highHalf: b)
        return (both.evenHalf, both.oddHalf)
    }

    @inlinable @inline(__always)
    public static func add(_ a: Self, _ b: Self) -> Self { a &+ b }

    @inlinable @inline(__always)
    public static func xor(_ a: Self, _ b: Self) -> Self { a ^ b }

    @inlinable @inline(__always)
    public static func rotateRight(_ x: Self, by n: UInt32) -> Self {
        (x &>> Self(repeating: n)) | (x &<< Self(repeating: 32 - n))
    }

    @inlinable @inline(__always)
    public static func splat(_ value: UInt32) -> Self { Self(repeating: value) }
}

/// BLAKE3 constants shared by every implementation.
public enum BLAKE3Constants {
    public static let iv: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19
    )
    public static let chunkStart: UInt32 = 1
    public static let chunkEnd: UInt32 = 2
    public static let parent: UInt32 = 4
    public static let root: UInt32 = 8
    public static let keyedHash: UInt32 = 16
    public static let deriveKeyContext: UInt32 = 32
    public static let deriveKeyMaterial: UInt32 = 64
    public static let blockLength = 64
    public static let chunkLength = 1024
}

/// Sixteen vectors: the 16 message words (or state words) of N lanes.
@frozen @usableFromInline
struct Sixteen<V: BLAKE3Lanes> {
    @usableFromInline var v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15: V

    @inlinable @inline(__always)
    init(repeating value: V) {
        (v0, v1, v2, v3, v4, v5, v6, v7) = (value, value, value, value, value, value, value, value)
        (v8, v9, v10, v11, v12, v13, v14, v15) = (value, value, value, value, value, value, value, value)
    }

    /// One even/odd deinterleave of the 16·N words seen as one row-major array: word index bits rotate
    /// right by one. Four of them turn N rows of 16 words into 16 columns of N words.
    @inlinable @inline(__always)
    mutating func deinterleaveAll() {
        let (e0, o0) = V.deinterleave(v0, v1)
        let (e1, o1) = V.deinterleave(v2, v3)
        let (e2, o2) = V.deinterleave(v4, v5)
        let (e3, o3) = V.deinterleave(v6, v7)
        let (e4, o4) = V.deinterleave(v8, v9)
        let (e5, o5) = V.deinterleave(v10, v11)
        let (e6, o6) = V.deinterleave(v12, v13)
        let (e7, o7) = V.deinterleave(v14, v15)
        (v0, v1, v2, v3, v4, v5, v6, v7) = (e0, e1, e2, e3, e4, e5, e6, e7)
        (v8, v9, v10, v11, v12, v13, v14, v15) = (o0, o1, o2, o3, o4, o5, o6, o7)
    }
}

@inlinable @inline(__always)
func g<V: BLAKE3Lanes>(_ a: inout V, _ b: inout V, _ c: inout V, _ d: inout V, _ x: V, _ y: V) {
    a = V.add(V.add(a, b), x)
    d = V.rotateRight(V.xor(d, a), by: 16)
    c = V.add(c, d)
    b = V.rotateRight(V.xor(b, c), by: 12)
    a = V.add(V.add(a, b), y)
    d = V.rotateRight(V.xor(d, a), by: 8)
    c = V.add(c, d)
    b = V.rotateRight(V.xor(b, c), by: 7)
}

/// One round with the message words already in this round's order.
@inlinable @inline(__always)
func round<V: BLAKE3Lanes>(_ s: inout Sixteen<V>, _ m: Sixteen<V>) {
    g(&s.v0, &s.v4, &s.v8, &s.v12, m.v0, m.v1)
    g(&s.v1, &s.v5, &s.v9, &s.v13, m.v2, m.v3)
    g(&s.v2, &s.v6, &s.v10, &s.v14, m.v4, m.v5)
    g(&s.v3, &s.v7, &s.v11, &s.v15, m.v6, m.v7)
    g(&s.v0, &s.v5, &s.v10, &s.v15, m.v8, m.v9)
    g(&s.v1, &s.v6, &s.v11, &s.v12, m.v10, m.v11)
    g(&s.v2, &s.v7, &s.v8, &s.v13, m.v12, m.v13)
    g(&s.v3, &s.v4, &s.v9, &s.v14, m.v14, m.v15)
}

/// The message permutation applied between rounds: new[i] = old[P[i]], P = 2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8.
@inlinable @inline(__always)
func permute<V: BLAKE3Lanes>(_ m: Sixteen<V>) -> Sixteen<V> {
    var p = m
    (p.v0, p.v1, p.v2, p.v3, p.v4, p.v5, p.v6, p.v7) = (m.v2, m.v6, m.v3, m.v10, m.v7, m.v0, m.v4, m.v13)
    (p.v8, p.v9, p.v10, p.v11, p.v12, p.v13, p.v14, p.v15) = (m.v1, m.v11, m.v12, m.v5, m.v9, m.v14, m.v15, m.v8)
    return p
}

/// Hashes `V.scalarCount` inputs of `blocks` blocks each (chunks: 16 blocks; parent nodes: 1 block) and
/// writes one 32-byte chaining value per input to `out`, in input order.
/// - Parameters:
///   - inputs: start of each input (exactly `V.scalarCount` of them).
///   - key: the 8 key words (IV for plain hashing).
///   - counter: the first input's counter; with `incrementCounter` input j uses counter + j (chunks),
///     otherwise all use `counter` (parents).
///   - flags: flags of every block; `flagsStart` is added to the first block, `flagsEnd` to the last.
@inlinable
public func blake3HashMany<V: BLAKE3Lanes>(
    _ lanes: V.Type, inputs: UnsafePointer<UnsafeRawPointer>, blocks: Int, key: UnsafePointer<UInt32>,
    counter: UInt64, incrementCounter: Bool, flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32,
    out: UnsafeMutableRawPointer
) {
    let n = V.scalarCount
    var counterLow = V.splat(UInt32(truncatingIfNeeded: counter))
    var counterHigh = V.splat(UInt32(truncatingIfNeeded: counter >> 32))
    if incrementCounter {
        for lane in 0..<n {
            let value = counter &+ UInt64(lane)
            counterLow[lane] = UInt32(truncatingIfNeeded: value)
            counterHigh[lane] = UInt32(truncatingIfNeeded: value >> 32)
        }
    }
    var h = Sixteen<V>(repeating: V())
    (h.v0, h.v1, h.v2, h.v3) = (V.splat(key[0]), V.splat(key[1]), V.splat(key[2]), V.splat(key[3]))
    (h.v4, h.v5, h.v6, h.v7) = (V.splat(key[4]), V.splat(key[5]), V.splat(key[6]), V.splat(key[7]))
    let rowVectors = 16 / n  // vectors per input block row
    for block in 0..<blocks {
        var blockFlags = flags
        if block == 0 { blockFlags |= flagsStart }
        if block == blocks - 1 { blockFlags |= flagsEnd }
        // Load each input's 64-byte block as consecutive vectors (row-major), then transpose so that
        // vector w holds message word w of every input.
        var m = Sixteen<V>(repeating: V())
        withUnsafeMutableBytes(of: &m) { raw in
            let vectorBytes = n * 4
            for k in 0..<16 {
                let source = inputs[k / rowVectors] + block * 64 + (k % rowVectors) * vectorBytes
                raw.baseAddress!.advanced(by: k * MemoryLayout<V>.stride)
                    .copyMemory(from: source, byteCount: vectorBytes)
            }
        }
        m.deinterleaveAll()
        m.deinterleaveAll()
        m.deinterleaveAll()
        m.deinterleaveAll()
        var s = h
        (s.v8, s.v9, s.v10, s.v11) = (
            V.splat(BLAKE3Constants.iv.0), V.splat(BLAKE3Constants.iv.1),
            V.splat(BLAKE3Constants.iv.2), V.splat(BLAKE3Constants.iv.3)
        )
        (s.v12, s.v13, s.v14, s.v15) = (counterLow, counterHigh, V.splat(64), V.splat(blockFlags))
        round(&s, m)
        m = permute(m); round(&s, m)
        m = permute(m); round(&s, m)
        m = permute(m); round(&s, m)
        m = permute(m); round(&s, m)
        m = permute(m); round(&s, m)
        m = permute(m); round(&s, m)
        (h.v0, h.v1, h.v2, h.v3) = (V.xor(s.v0, s.v8), V.xor(s.v1, s.v9), V.xor(s.v2, s.v10), V.xor(s.v3, s.v11))
        (h.v4, h.v5, h.v6, h.v7) = (V.xor(s.v4, s.v12), V.xor(s.v5, s.v13), V.xor(s.v6, s.v14), V.xor(s.v7, s.v15))
    }
    let words = out.assumingMemoryBound(to: UInt32.self)
    for lane in 0..<n {
        let base = lane * 8
        words[base] = h.v0[lane]
        words[base + 1] = h.v1[lane]
        words[base + 2] = h.v2[lane]
        words[base + 3] = h.v3[lane]
        words[base + 4] = h.v4[lane]
        words[base + 5] = h.v5[lane]
        words[base + 6] = h.v6[lane]
        words[base + 7] = h.v7[lane]
    }
}
