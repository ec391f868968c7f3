import BlobCore
import Foundation

// BLAKE3 single-thread throughput of BlobCore on a file (scripts/bench-blob compares it with b3sum).
// Usage: BlobBench blake3 <file> [kernel]

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, arguments[1] == "blake3" else {
    print("usage: BlobBench blake3 <file> [avx512|avx2|portable4]")
    exit(2)
}
let data = try Data(contentsOf: URL(fileURLWithPath: arguments[2]), options: .alwaysMapped)
let kernel = arguments.count > 3 ? BLAKE3Kernel(rawValue: arguments[3]) ?? .selected : .selected
var best = Duration.seconds(1000)
var digest: [UInt8] = []
for _ in 0..<5 {
    let clock = ContinuousClock()
    let start = clock.now
    let hasher = BLAKE3Hasher(kernel: kernel)
    data.withUnsafeBytes { bytes in
        // 1 MiB updates, as the blob service feeds its hasher.
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + 1_048_576, bytes.count)
            hasher.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
        }
    }
    digest = hasher.finalize()
    best = min(best, clock.now - start)
}
let gib = Double(data.count) / 1_073_741_824
print(String(format: "blake3_swift_%@ %.3f s  %.2f GiB/s  %@", kernel.rawValue, seconds(best), gib / seconds(best),
             digest.map { String(format: "%02x", $0) }.joined()))
