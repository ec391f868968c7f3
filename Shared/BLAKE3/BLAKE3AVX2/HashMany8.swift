import BLAKE3Lanes

// Compiled with -target-cpu haswell (AVX2): call only when the CPU has AVX2 (BlobCore checks).

/// `blake3HashMany` on 8 inputs in the 8 lanes of 256-bit registers.
public func blake3HashMany8(
    inputs: UnsafePointer<UnsafeRawPointer>, blocks: Int, key: UnsafePointer<UInt32>, counter: UInt64,
    incrementCounter: Bool, flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer
) {
    blake3HashMany(
        SIMD8<UInt32>.self, inputs: inputs, blocks: blocks, key: key, counter: counter,
        incrementCounter: incrementCounter, flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out)
}
