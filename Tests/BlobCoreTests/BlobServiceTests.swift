import BLAKE3
import BlobCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PostgresNIO
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

enum StoreUnderTest: String, CaseIterable, Sendable {
    case postgres, filesystem
}

/// The blob service of a `withServices` run, and where it keeps its files.
struct RunningBlobServer {
    var port: Int
    var host: WharfServiceHost
    var directory: String
    var database: String

    init(_ services: InProcessServices) {
        port = services.port("blob")
        host = services.host("blob")
        directory = InProcessService.blobDirectory(services)
        database = services.database
    }
}

extension InProcessService {
    static func blobDirectory(_ services: InProcessServices) -> String { services.folder + "/blobs" }

    /// The blob service as its executable runs it, keeping blobs in `store` (its files in the run's folder).
    static func blob(_ store: StoreUnderTest, environment: [String: String] = [:]) -> InProcessService {
        InProcessService(BlobServer.self) { services in
            ["WHARF_BLOB_STORE": store.rawValue, "WHARF_BLOB_DIR": blobDirectory(services)].merging(environment) { $1 }
        }
    }
}

func randomBytes(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        let words = raw.count / 8
        let pointer = raw.baseAddress!
        for index in 0..<words { pointer.storeBytes(of: generator.next() as UInt64, toByteOffset: index * 8, as: UInt64.self) }
        for index in (words * 8)..<raw.count { raw[index] = UInt8.random(in: 0...255) }
    }
    return data
}

func b3(_ data: Data) -> Data { data.withUnsafeBytes { Data(BlobDigest(hashing: $0).bytes) } }

extension Tvix_Castore_V1_BlobService.Client where Transport == HTTP2ClientTransport.Posix {
    /// Puts `data` in messages of `messageSize` bytes.
    func put(_ data: Data, messageSize: Int = 64 * 1024) async throws -> Data {
        try await put(
            request: StreamingClientRequest { writer in
                var offset = 0
                while offset < data.count {
                    let end = min(offset + messageSize, data.count)
                    try await writer.write(.with { $0.data = data[offset..<end] })
                    offset = end
                }
            }
        ).digest
    }

    func readAll(_ digest: Data) async throws -> (data: Data, messages: Int) {
        try await read(.with { $0.digest = digest }) { response in
            var data = Data()
            var messages = 0
            for try await message in response.messages {
                data.append(message.data)
                messages += 1
                #expect(message.data.count <= 1 << 20)
            }
            return (data, messages)
        }
    }
}

@Suite("Blob service over gRPC", .serialized)
struct BlobServiceTests {
    static let sizes = [0, 1, 1023, 1024, 1025, 65_536, 1 << 20, 5 << 20, 50 << 20]

    @Test("Put then Read returns the same bytes and the BLAKE3 digest, for every size", arguments: StoreUnderTest.allCases)
    func roundTrip(store: StoreUnderTest) async throws {
        try await withServices([.blob(store)]) { services in
            let server = RunningBlobServer(services)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                for size in Self.sizes {
                    let data = randomBytes(size)
                    let digest = try await blobs.put(data)
                    #expect(digest == b3(data), "size \(size)")
                    let (read, messages) = try await blobs.readAll(digest)
                    #expect(read == data, "size \(size)")
                    // At most one stored chunk (≤ 512 KiB) per message; an empty blob is zero messages.
                    #expect(size == 0 ? messages == 0 : messages >= (size + (1 << 20) - 1) / (1 << 20), "size \(size)")
                    _ = try await blobs.stat(.with { $0.digest = digest })
                }
            }
        }
    }

    @Test("uploading the same blob twice stores its chunks once", arguments: StoreUnderTest.allCases)
    func deduplication(store: StoreUnderTest) async throws {
        try await withServices([.blob(store)]) { services in
            let server = RunningBlobServer(services)
            let data = randomBytes(3 << 20)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let first = try await blobs.put(data, messageSize: 8192)
                let countAfterFirst = try await storedChunkCount(server, store)
                let second = try await blobs.put(data, messageSize: 1 << 20)
                #expect(first == second)
                let chunks = try await blobs.stat(
                    .with {
                        $0.digest = first; $0.sendChunks = true
                    }
                ).chunks
                #expect(chunks.count >= 2)
                #expect(countAfterFirst == chunks.count)
                #expect(try await storedChunkCount(server, store) == chunks.count)
            }
        }
    }

    @Test(
        "Stat with send_chunks lists chunks summing to the blob; each chunk Stats and Reads by its digest",
        arguments: StoreUnderTest.allCases)
    func chunkList(store: StoreUnderTest) async throws {
        try await withServices([.blob(store)]) { services in
            let server = RunningBlobServer(services)
            let data = randomBytes(5 << 20)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let digest = try await blobs.put(data)
                let chunks = try await blobs.stat(
                    .with {
                        $0.digest = digest; $0.sendChunks = true
                    }
                ).chunks
                #expect(chunks.count >= 10)  // 5 MiB at 128-512 KiB per chunk
                #expect(chunks.reduce(0) { $0 + $1.size } == UInt64(data.count))
                #expect(chunks.dropLast().allSatisfy { (131_072...524_288).contains($0.size) })
                // Without send_chunks: exists, no list.
                #expect(try await blobs.stat(.with { $0.digest = digest }).chunks.isEmpty)
                var offset = 0
                for chunk in chunks {
                    let stat = try await blobs.stat(
                        .with {
                            $0.digest = chunk.digest; $0.sendChunks = true
                        })
                    #expect(stat.chunks.isEmpty)
                    let (bytes, _) = try await blobs.readAll(chunk.digest)
                    #expect(bytes == data[offset..<offset + Int(chunk.size)])
                    #expect(b3(bytes) == chunk.digest)
                    offset += Int(chunk.size)
                }
                // A blob below the minimum chunk size is one chunk: no list.
                let small = try await blobs.put(randomBytes(100_000))
                #expect(
                    try await blobs.stat(
                        .with {
                            $0.digest = small; $0.sendChunks = true
                        }
                    ).chunks.isEmpty)
            }
        }
    }

    @Test("bad digests get INVALID_ARGUMENT, unknown ones NOT_FOUND naming the digest", arguments: StoreUnderTest.allCases)
    func badAndUnknownDigests(store: StoreUnderTest) async throws {
        try await withServices([.blob(store)]) { services in
            let server = RunningBlobServer(services)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                for bad in [Data(), Data(count: 31), Data(count: 33)] {
                    await expectStatus(.invalidArgument, "invalid digest length") { _ = try await blobs.stat(.with { $0.digest = bad }) }
                    await expectStatus(.invalidArgument, "invalid digest length") { _ = try await blobs.readAll(bad) }
                }
                let unknown = b3(Data("never stored".utf8))
                let text = "blob b3:\(unknown.base64EncodedString()) not found"
                await expectStatus(.notFound, text) { _ = try await blobs.stat(.with { $0.digest = unknown }) }
                await expectStatus(.notFound, text) { _ = try await blobs.readAll(unknown) }
                // Empty blob: NOT_FOUND until put, then zero Read messages.
                let empty = b3(Data())
                await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = empty }) }
                #expect(try await blobs.put(Data()) == empty)
                let (bytes, messages) = try await blobs.readAll(empty)
                #expect(bytes.isEmpty && messages == 0)
            }
        }
    }

    @Test("a Put cancelled halfway leaves the blob NOT_FOUND, and its chunks are collectable", arguments: StoreUnderTest.allCases)
    func cancelledPut(store: StoreUnderTest) async throws {
        try await withServices([.blob(store)]) { services in
            let server = RunningBlobServer(services)
            let data = randomBytes(4 << 20)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                struct Abort: Error {}
                await #expect(throws: (any Error).self) {
                    _ = try await blobs.put(
                        request: StreamingClientRequest { writer in
                            try await writer.write(.with { $0.data = data[0..<(3 << 20)] })
                            try await Task.sleep(for: .milliseconds(300))  // let the server store some chunks
                            throw Abort()
                        })
                }
                await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = b3(data) }) }
                await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = b3(data[0..<(3 << 20)]) }) }
                // A committed blob survives collection; the abandoned upload's chunks do not.
                let kept = randomBytes(2 << 20)
                let keptDigest = try await blobs.put(kept)
                let blobStore = try BlobServer.makeStore(try blobSettings(server, store), host: server.host)
                let before = try await storedChunkCount(server, store)
                let removed = try await blobStore.collectGarbage(grace: .zero, keepingSince: nil)
                #expect(removed > 0)
                #expect(try await storedChunkCount(server, store) == before - removed)
                #expect(try await blobs.readAll(keptDigest).data == kept)
            }
        }
    }

    @Test("a blob over WHARF_BLOB_MAX_BYTES gets RESOURCE_EXHAUSTED and is not stored", arguments: StoreUnderTest.allCases)
    func maximumSize(store: StoreUnderTest) async throws {
        try await withServices([.blob(store, environment: ["WHARF_BLOB_MAX_BYTES": "1000000"])]) { services in
            let server = RunningBlobServer(services)
            try await withTestClient(port: server.port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let data = randomBytes(1_500_000)
                await expectStatus(.resourceExhausted, "blob exceeds the maximum size of 1000000 bytes (WHARF_BLOB_MAX_BYTES)") {
                    _ = try await blobs.put(data)
                }
                await expectStatus(.notFound, nil) { _ = try await blobs.stat(.with { $0.digest = b3(data) }) }
                let accepted = try await blobs.put(data[0..<1_000_000])
                #expect(accepted == b3(data[0..<1_000_000]))
            }
        }
    }

    @Test("the snix.castore.v1 path serves the same store, with snix's digest text")
    func snix() async throws {
        try await withServices([.blob(.postgres)]) { services in
            let server = RunningBlobServer(services)
            try await withTestClient(port: server.port) { client in
                let snix = Snix_Castore_V1_BlobService.Client(wrapping: client)
                let tvix = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let data = randomBytes(700_000)
                let digest = try await snix.put(
                    request: StreamingClientRequest { writer in
                        try await writer.write(.with { $0.data = data })
                    }
                ).digest
                #expect(digest == b3(data))
                #expect(try await tvix.readAll(digest).data == data)
                let chunks = try await snix.stat(
                    .with {
                        $0.digest = digest; $0.sendChunks = true
                    }
                ).chunks
                #expect(chunks.reduce(0) { $0 + $1.size } == 700_000)
                let unknown = b3(Data("nope".utf8))
                await expectStatus(.notFound, "blob blake3-\(unknown.base64EncodedString()) not found") {
                    _ = try await snix.stat(.with { $0.digest = unknown })
                }
            }
        }
    }
}

func blobSettings(_ server: RunningBlobServer, _ store: StoreUnderTest) throws -> BlobSettings {
    BlobSettings(reader: EnvironmentReader(environment: ["WHARF_BLOB_STORE": store.rawValue, "WHARF_BLOB_DIR": server.directory]))
}

func storedChunkCount(_ server: RunningBlobServer, _ store: StoreUnderTest) async throws -> Int {
    switch store {
    case .postgres:
        let rows = try await server.host.postgres.query("SELECT count(*)::bigint FROM blob.chunks")
        return Int(try await rows.decode(Int64.self).reduce(0, +))
    case .filesystem:
        let chunks = URL(fileURLWithPath: server.directory).appendingPathComponent("chunks").path
        let files = FileManager.default.enumerator(atPath: chunks)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.split(separator: "/").count == 2 }.count
    }
}

func expectStatus(
    _ code: RPCError.Code, _ message: String?, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let message { #expect(error.message == message, sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
