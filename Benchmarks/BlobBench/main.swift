import BLAKE3
import BlobCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import WharfProto

// Blob service figures (scripts/bench-blob prints them next to b3sum):
//   BlobBench blake3 <file> [kernel]     single-thread BLAKE3 throughput of BlobCore
//   BlobBench grpc <port> <file>         Put then Read of the file through a running blob service

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func gibPerSecond(_ bytes: Int, _ duration: Duration) -> Double {
    Double(bytes) / 1_073_741_824 / seconds(duration)
}

func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func blake3(_ path: String, kernel: BLAKE3Kernel) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
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
    print(
        String(
            format: "blake3_swift_%@_single_thread %.3f s  %.2f GiB/s  %@", kernel.rawValue, seconds(best),
            gibPerSecond(data.count, best), hex(digest)))
}

func grpcPutRead(port: Int, path: String) async throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext,
        config: .defaults { $0.http2.targetWindowSize = 16 << 20 })
    try await withGRPCClient(transport: transport) { client in
        let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
        let clock = ContinuousClock()
        let putStart = clock.now
        let digest = try await blobs.put(
            request: StreamingClientRequest { writer in
                var offset = 0
                while offset < data.count {
                    let end = min(offset + (1 << 20), data.count)
                    try await writer.write(.with { $0.data = data[offset..<end] })
                    offset = end
                }
            }
        ).digest
        let putTime = clock.now - putStart
        print(String(format: "put_1GiB %.3f s  %.2f GiB/s  digest %@", seconds(putTime), gibPerSecond(data.count, putTime), hex(digest)))

        let readStart = clock.now
        let received = try await blobs.read(.with { $0.digest = digest }) { response in
            var received = Data(capacity: data.count)
            for try await message in response.messages { received.append(message.data) }
            return received
        }
        let readTime = clock.now - readStart
        let intact = received.count == data.count && received.withUnsafeBytes { Data(BlobDigest(hashing: $0).bytes) } == digest
        print(
            String(
                format: "read_1GiB %.3f s  %.2f GiB/s  %@", seconds(readTime), gibPerSecond(received.count, readTime),
                intact ? "bytes verified" : "MISMATCH"))
    }
}

let arguments = CommandLine.arguments
switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
case (3..., "blake3"):
    try blake3(arguments[2], kernel: arguments.count > 3 ? BLAKE3Kernel(rawValue: arguments[3]) ?? .selected : .selected)
case (4, "grpc"):
    guard let port = Int(arguments[2]) else { fatalError("port must be a number") }
    try await grpcPutRead(port: port, path: arguments[3])
default:
    print("usage: BlobBench blake3 <file> [avx512|avx2|portable4] | BlobBench grpc <port> <file>")
    exit(2)
}
