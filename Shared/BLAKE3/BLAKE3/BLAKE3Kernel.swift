import BLAKE3AVX2
import BLAKE3AVX512
import BLAKE3Lanes
import Foundation

/// Which SIMD kernel hashes many chunks or parents at once: the widest the CPU supports, decided once.
/// (The kernels live in modules compiled for AVX-512 and AVX2; calling one on a CPU without those
/// instructions would crash, so the choice reads the CPU's feature flags.)
public enum BLAKE3Kernel: String, Sendable, CaseIterable {
    case avx512
    case avx2
    case portable4

    /// Inputs hashed per kernel call.
    public var degree: Int {
        switch self {
        case .avx512: return 16
        case .avx2: return 8
        case .portable4: return 4
        }
    }

    /// The kernel used by `BLAKE3Hasher`; `WHARF_BLAKE3_KERNEL` can force a narrower one (benchmarks, tests).
    public static let selected: BLAKE3Kernel = {
        let supported = supportedByCPU
        if let forced = ProcessInfo.processInfo.environment["WHARF_BLAKE3_KERNEL"].flatMap(BLAKE3Kernel.init(rawValue:)),
            supported.contains(forced)
        {
            return forced
        }
        return supported.first ?? .portable4
    }()

    /// Kernels this CPU can run, widest first.
    public static let supportedByCPU: [BLAKE3Kernel] = {
        #if arch(x86_64) && os(Linux)
            let flags = cpuFlags()
            var kernels: [BLAKE3Kernel] = []
            if ["avx512f", "avx512vl", "avx512bw", "avx512dq"].allSatisfy(flags.contains) { kernels.append(.avx512) }
            if flags.contains("avx2") { kernels.append(.avx2) }
            return kernels + [.portable4]
        #else
            return [.portable4]
        #endif
    }()

    private static func cpuFlags() -> Set<Substring> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }

    /// Hashes `count` inputs (any number) of `blocks` blocks each, `degree` at a time, writing one 32-byte
    /// chaining value per input to `out`.
    func hashMany(
        inputs: UnsafePointer<UnsafeRawPointer>, count: Int, blocks: Int, key: UnsafePointer<UInt32>, counter: UInt64,
        incrementCounter: Bool, flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer
    ) {
        var done = 0
        let width = degree
        while count - done >= width {
            callWide(
                inputs: inputs + done, blocks: blocks, key: key,
                counter: incrementCounter ? counter &+ UInt64(done) : counter, incrementCounter: incrementCounter,
                flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out + done * 32)
            done += width
        }
        // A partial group (the upper levels of a tree, the last chunks of a CDC chunk) still goes through
        // the wide kernel with its spare lanes repeating the last input: one wide call costs less than two
        // or more inputs through the 4-lane baseline kernel (~12× slower per lane than AVX-512). Before
        // this, the baseline kernel took 40% as much time as the wide one in the blob service's profile.
        if width > 4 && count - done >= 2 {
            let real = count - done
            withUnsafeTemporaryAllocation(of: UnsafeRawPointer.self, capacity: width) { padded in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: width * 32) { scratch in
                    guard let padded = padded.baseAddress, let scratch = scratch.baseAddress else { return }
                    for lane in 0..<width { padded[lane] = inputs[done + min(lane, real - 1)] }
                    callWide(
                        inputs: padded, blocks: blocks, key: key,
                        counter: incrementCounter ? counter &+ UInt64(done) : counter,
                        incrementCounter: incrementCounter, flags: flags, flagsStart: flagsStart,
                        flagsEnd: flagsEnd, out: UnsafeMutableRawPointer(scratch))
                    (out + done * 32).copyMemory(from: scratch, byteCount: real * 32)
                }
            }
            done = count
        }
        // The remainder: four at a time, then one by one.
        while count - done >= 4 {
            Self.hashMany4(
                inputs: inputs + done, blocks: blocks, key: key,
                counter: incrementCounter ? counter &+ UInt64(done) : counter,
                incrementCounter: incrementCounter, flags: flags, flagsStart: flagsStart,
                flagsEnd: flagsEnd, out: out + done * 32)
            done += 4
        }
        while done < count {
            Self.hashOne(
                input: inputs[done], blocks: blocks, key: key,
                counter: incrementCounter ? counter &+ UInt64(done) : counter, flags: flags,
                flagsStart: flagsStart, flagsEnd: flagsEnd, out: (out + done * 32).assumingMemoryBound(to: UInt32.self))
            done += 1
        }
    }

    /// One call of this kernel over exactly `degree` inputs.
    private func callWide(
        inputs: UnsafePointer<UnsafeRawPointer>, blocks: Int, key: UnsafePointer<UInt32>, counter: UInt64,
        incrementCounter: Bool, flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer
    ) {
        switch self {
        case .avx512:
            blake3HashMany16(
                inputs: inputs, blocks: blocks, key: key, counter: counter, incrementCounter: incrementCounter,
                flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out)
        case .avx2:
            blake3HashMany8(
                inputs: inputs, blocks: blocks, key: key, counter: counter, incrementCounter: incrementCounter,
                flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out)
        case .portable4:
            Self.hashMany4(
                inputs: inputs, blocks: blocks, key: key, counter: counter, incrementCounter: incrementCounter,
                flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out)
        }
    }

    private static func hashMany4(
        inputs: UnsafePointer<UnsafeRawPointer>, blocks: Int, key: UnsafePointer<UInt32>, counter: UInt64,
        incrementCounter: Bool, flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer
    ) {
        blake3HashMany(
            SIMD4<UInt32>.self, inputs: inputs, blocks: blocks, key: key, counter: counter,
            incrementCounter: incrementCounter, flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd,
            out: out)
    }

    private static func hashOne(
        input: UnsafeRawPointer, blocks: Int, key: UnsafePointer<UInt32>, counter: UInt64, flags: UInt32,
        flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutablePointer<UInt32>
    ) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { scratch in
            guard let cv = scratch.baseAddress else { return }
            let block = cv + 8
            let output = cv + 16
            cv.update(from: key, count: 8)
            for index in 0..<blocks {
                var blockFlags = flags
                if index == 0 { blockFlags |= flagsStart }
                if index == blocks - 1 { blockFlags |= flagsEnd }
                UnsafeMutableRawPointer(block).copyMemory(from: input + index * 64, byteCount: 64)
                BLAKE3Compress.compress(cv: cv, block: block, counter: counter, blockLength: 64, flags: blockFlags, out: output)
                cv.update(from: output, count: 8)
            }
            out.update(from: cv, count: 8)
        }
    }
}
