import BLAKE3
import Foundation
import GRPCCore
import NIOCore
import NIOFoundationCompat
import WharfProto

/// `tvix.castore.v1.BlobService` over `BlobServiceCore`.
public struct TvixBlobService: Tvix_Castore_V1_BlobService.SimpleServiceProtocol {
    let core: BlobServiceCore

    public init(core: BlobServiceCore) { self.core = core }

    public func stat(request: Tvix_Castore_V1_StatBlobRequest, context: ServerContext) async throws -> Tvix_Castore_V1_StatBlobResponse {
        do {
            let chunks = try await core.stat(digest: request.digest, sendChunks: request.sendChunks)
            return .with {
                $0.chunks = chunks.map { chunk in
                    .with {
                        $0.digest = chunk.digest.bytes; $0.size = UInt64(chunk.size)
                    }
                }
            }
        } catch {
            throw error.rpcError(flavor: .tvix)
        }
    }

    /// Read with the blob's size in the response metadata (`wharf-blob-size`).
    public func read(request: ServerRequest<Tvix_Castore_V1_ReadBlobRequest>, context: ServerContext) async throws -> StreamingServerResponse<
        Tvix_Castore_V1_BlobChunk
    > {
        let record: BlobRecord, digest: BlobDigest
        do {
            digest = try BlobServiceCore.digest(request.message.digest)
            record = try await core.record(digest: request.message.digest)
        } catch {
            throw error.rpcError(flavor: .tvix)
        }
        return StreamingServerResponse(metadata: [BlobServiceCore.sizeMetadataKey: "\(record.size)"]) { [core] writer in
            do throws(BlobServiceError) {
                try await core.read(record, of: digest) { piece in
                    try await writer.write(.with { $0.data = Data(buffer: piece, byteTransferStrategy: .noCopy) })
                }
            } catch {
                throw error.rpcError(flavor: .tvix)
            }
            return [:]
        }
    }

    public func read(request: Tvix_Castore_V1_ReadBlobRequest, response: RPCWriter<Tvix_Castore_V1_BlobChunk>, context: ServerContext) async throws {
        do {
            try await core.read(digest: request.digest) { piece in
                try await response.write(.with { $0.data = Data(buffer: piece, byteTransferStrategy: .noCopy) })
            }
        } catch {
            throw error.rpcError(flavor: .tvix)
        }
    }

    public func put(request: RPCAsyncSequence<Tvix_Castore_V1_BlobChunk, any Error>, context: ServerContext) async throws
        -> Tvix_Castore_V1_PutBlobResponse
    {
        do {
            let digest = try await core.put(request) { $0.data }
            return .with { $0.digest = digest.bytes }
        } catch {
            throw error.rpcError(flavor: .tvix)
        }
    }
}

/// `snix.castore.v1.BlobService`: the same service under snix's package name (and its digest text form).
public struct SnixBlobService: Snix_Castore_V1_BlobService.SimpleServiceProtocol {
    let core: BlobServiceCore

    public init(core: BlobServiceCore) { self.core = core }

    public func stat(request: Snix_Castore_V1_StatBlobRequest, context: ServerContext) async throws -> Snix_Castore_V1_StatBlobResponse {
        do {
            let chunks = try await core.stat(digest: request.digest, sendChunks: request.sendChunks)
            return .with {
                $0.chunks = chunks.map { chunk in
                    .with {
                        $0.digest = chunk.digest.bytes; $0.size = UInt64(chunk.size)
                    }
                }
            }
        } catch {
            throw error.rpcError(flavor: .snix)
        }
    }

    /// Read with the blob's size in the response metadata (`wharf-blob-size`).
    public func read(request: ServerRequest<Snix_Castore_V1_ReadBlobRequest>, context: ServerContext) async throws -> StreamingServerResponse<
        Snix_Castore_V1_BlobChunk
    > {
        let record: BlobRecord, digest: BlobDigest
        do {
            digest = try BlobServiceCore.digest(request.message.digest)
            record = try await core.record(digest: request.message.digest)
        } catch {
            throw error.rpcError(flavor: .snix)
        }
        return StreamingServerResponse(metadata: [BlobServiceCore.sizeMetadataKey: "\(record.size)"]) { [core] writer in
            do throws(BlobServiceError) {
                try await core.read(record, of: digest) { piece in
                    try await writer.write(.with { $0.data = Data(buffer: piece, byteTransferStrategy: .noCopy) })
                }
            } catch {
                throw error.rpcError(flavor: .snix)
            }
            return [:]
        }
    }

    public func read(request: Snix_Castore_V1_ReadBlobRequest, response: RPCWriter<Snix_Castore_V1_BlobChunk>, context: ServerContext) async throws {
        do {
            try await core.read(digest: request.digest) { piece in
                try await response.write(.with { $0.data = Data(buffer: piece, byteTransferStrategy: .noCopy) })
            }
        } catch {
            throw error.rpcError(flavor: .snix)
        }
    }

    public func put(request: RPCAsyncSequence<Snix_Castore_V1_BlobChunk, any Error>, context: ServerContext) async throws
        -> Snix_Castore_V1_PutBlobResponse
    {
        do {
            let digest = try await core.put(request) { $0.data }
            return .with { $0.digest = digest.bytes }
        } catch {
            throw error.rpcError(flavor: .snix)
        }
    }
}
