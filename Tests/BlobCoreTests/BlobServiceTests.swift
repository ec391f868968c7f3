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

extension Tvix_Castore_V1_BlobService.Client {
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

/// What depends on the backend, over gRPC against the service as deployed on each store: chunks stored once,
/// abandoned uploads collectable. The protocol's behaviour is `BlobServiceInMemoryTests`'.
@Suite("Blob service over gRPC on each store", .serialized)
struct BlobServiceTests {
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
