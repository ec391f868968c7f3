import Crypto
import Foundation

/// FastCDC-2020 content-defined chunking with normalisation level 1, bit-exact with fastcdc-rs 3.1.0
/// (the chunker tvix's object_store uses): the same parameters give the same cut points.
public struct FastCDC: Sendable {
    public let minimumSize: Int
    public let averageSize: Int
    public let maximumSize: Int
    private let maskS: UInt64
    private let maskL: UInt64
    private let maskSShifted: UInt64
    private let maskLShifted: UInt64

    /// tvix/snix object_store defaults: 128 KiB / 256 KiB / 512 KiB.
    public static let tvix = FastCDC(minimumSize: 131_072, averageSize: 262_144, maximumSize: 524_288)

    public init(minimumSize: Int, averageSize: Int, maximumSize: Int) {
        precondition(
            (64...1_048_576).contains(minimumSize) && (256...4_194_304).contains(averageSize)
                && (1024...16_777_216).contains(maximumSize), "FastCDC sizes out of range")
        self.minimumSize = minimumSize
        self.averageSize = averageSize
        self.maximumSize = maximumSize
        // fastcdc-rs: bits = round(log2(avg)); level 1 uses the masks one bit harder/easier than that.
        let bits = Int(Foundation.log2(Double(averageSize)).rounded())
        maskS = Self.masks[bits + 1]
        maskL = Self.masks[bits - 1]
        maskSShifted = maskS << 1
        maskLShifted = maskL << 1
    }

    /// Length of the chunk that starts at the beginning of `source`. Pass at least `maximumSize` bytes
    /// unless `source` is the end of the data.
    public func cut(_ source: UnsafeRawBufferPointer) -> Int {
        let n = source.count
        guard n > minimumSize, let bytes = source.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return n }
        let limit = min(n, maximumSize)
        let center = min(averageSize, n)
        // Per-byte loop: raw table pointers and unchecked byte reads (every index stays below `limit` ≤ n).
        let gear = Self.gearTable
        let gearShifted = Self.gearShiftedTable
        var hash: UInt64 = 0
        var i = minimumSize / 2
        while i < center / 2 {
            let a = 2 * i
            hash = (hash &<< 2) &+ gearShifted[Int(bytes[a])]
            if hash & maskSShifted == 0 { return a }
            hash = hash &+ gear[Int(bytes[a + 1])]
            if hash & maskS == 0 { return a + 1 }
            i += 1
        }
        while i < limit / 2 {
            let a = 2 * i
            hash = (hash &<< 2) &+ gearShifted[Int(bytes[a])]
            if hash & maskLShifted == 0 { return a }
            hash = hash &+ gear[Int(bytes[a + 1])]
            if hash & maskL == 0 { return a + 1 }
            i += 1
        }
        return limit
    }

    /// The tables as process-lifetime pointers: no reference counting or bounds checks in `cut`.
    private nonisolated(unsafe) static let gearTable: UnsafePointer<UInt64> = permanent(gear)
    private nonisolated(unsafe) static let gearShiftedTable: UnsafePointer<UInt64> = permanent(gearShifted)

    private static func permanent(_ values: [UInt64]) -> UnsafePointer<UInt64> {
        let pointer = UnsafeMutablePointer<UInt64>.allocate(capacity: values.count)
        pointer.initialize(from: values, count: values.count)
        return UnsafePointer(pointer)
    }

    /// GEAR[i] = first 8 bytes (big-endian) of MD5 of 64 bytes equal to i.
    static let gear: [UInt64] = (0..<256).map { value in
        let digest = Insecure.MD5.hash(data: [UInt8](repeating: UInt8(value), count: 64))
        return digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    static let gearShifted: [UInt64] = gear.map { $0 &<< 1 }

    static let masks: [UInt64] = [
        0, 0, 0, 0, 0,
        0x0000_0000_0180_4110, 0x0000_0000_0180_3110, 0x0000_0000_1803_5100, 0x0000_0018_0003_5300,
        0x0000_0190_0035_3000, 0x0000_5900_0353_0000, 0x0000_d900_0353_0000, 0x0000_d901_0353_0000,
        0x0000_d903_0353_0000, 0x0000_d903_1353_0000, 0x0000_d90f_0353_0000, 0x0000_d903_0353_7000,
        0x0000_d907_0353_7000, 0x0000_d907_0753_7000, 0x0000_d917_0753_7000, 0x0000_d917_4753_7000,
        0x0000_d917_6753_7000, 0x0000_d937_6753_7000, 0x0000_d937_7753_7000, 0x0000_d937_7757_7000,
        0x0000_db37_7757_7000,
    ]
}
