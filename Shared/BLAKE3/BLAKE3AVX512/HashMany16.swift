import BLAKE3Lanes

// Compiled with -target-cpu skylake-avx512 (AVX-512 F/VL/BW/DQ): call only when the CPU has them
// (BlobCore checks).

/// `blake3HashMany` on 16 inputs in the 16 lanes of 512-bit registers.
public func blake3HashMany16(
    inputs: UnsafePointer<UnsafeRawPointer>, blocks: Int, key: UnsafePointer<UInt32>, counter: UInt64,
    incrementCounter: Bool, flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer
) {
    blake3HashMany(
        SIMD16<UInt32>.self, inputs: inputs, blocks: blocks, key: key, counter: counter,
        incrementCounter: incrementCounter, flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out)
}
