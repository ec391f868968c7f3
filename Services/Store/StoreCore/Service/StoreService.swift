import Foundation
import GRPCCore
import Logging
import NIOCore
import NIOFoundationCompat
import SwiftProtobuf
import WharfEvents
import WharfProto
import WharfRuntime

/// `agntcy.dir.store.v1.StoreService` with upstream v0.3.0 semantics (spec/agntcy-dir.md §4 and the
/// Wharf decisions) over PostgreSQL.
public struct StoreService: Agntcy_Dir_Store_V1_StoreService.SimpleServiceProtocol {
    /// Requests of one stream worked on at once.
    static let streamWindow = 16

    let repository: RecordRepository
    let events: EventBus?
    /// The gRPC server's message limit (`WHARF_GRPC_MAX_MESSAGE_BYTES`).
    let receiveLimit: Int
    let logger: Logger

    public init(repository: RecordRepository, events: EventBus?, receiveLimit: Int, logger: Logger) {
        self.repository = repository
        self.events = events
        self.receiveLimit = receiveLimit
        self.logger = logger
    }

    public func push(
        request: RPCAsyncSequence<Agntcy_Dir_Core_V1_Record, any Error>,
        response: RPCWriter<Agntcy_Dir_Core_V1_RecordRef>, context: ServerContext
    ) async throws {
        try await answer(request, response) { record in
            let prepared = try PreparedRecord(record, receiveLimit: receiveLimit)
            return { [self] in
                let inserted = try await storage("push record to store") { try await repository.insert(prepared) }
                if inserted { await events?.publishIgnoringFailure(RecordPushed(cid: prepared.cid)) }
                return .with { $0.cid = prepared.cid }
            }
        }
    }

    public func pull(
        request: RPCAsyncSequence<Agntcy_Dir_Core_V1_RecordRef, any Error>,
        response: RPCWriter<Agntcy_Dir_Core_V1_Record>, context: ServerContext
    ) async throws {
        try await answer(request, response) { reference in
            let cid = try Self.requiredCID(reference.cid)
            return { [self] in
                guard let data = try await storage("pull record", { try await repository.data(of: cid) }) else {
                    throw StoreError.pullNotFound(cid: cid)
                }
                do {
                    let object = try Google_Protobuf_Struct(jsonUTF8Data: Data(buffer: data, byteTransferStrategy: .noCopy))
                    return .with { $0.data = object }
                } catch {
                    logger.error("stored record does not parse", metadata: ["cid": "\(cid)", "error": "\(error)"])
                    throw StoreError.storage(operation: "pull record: failed to unmarshal record for CID \(cid)")
                }
            }
        }
    }

    public func lookup(
        request: RPCAsyncSequence<Agntcy_Dir_Core_V1_RecordRef, any Error>,
        response: RPCWriter<Agntcy_Dir_Core_V1_RecordMeta>, context: ServerContext
    ) async throws {
        try await answer(request, response) { reference in
            let cid = try Self.requiredCID(reference.cid)
            return { [self] in
                guard let meta = try await storage("lookup record", { try await repository.meta(of: cid) }) else {
                    throw StoreError.lookupNotFound(cid: cid)
                }
                return .with {
                    $0.cid = cid
                    $0.annotations = meta.annotations.lookupAnnotations
                    $0.schemaVersion = meta.schemaVersion
                    $0.createdAt = meta.createdAt
                }
            }
        }
    }

    public func delete(
        request: RPCAsyncSequence<Agntcy_Dir_Core_V1_RecordRef, any Error>,
        context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        do {
            for try await reference in request {
                let cid = try Self.requiredCID(reference.cid)
                // Best effort and idempotent as upstream: an unknown CID is not an error.
                if try await storage("delete record", { try await repository.delete(cid) }) {
                    await events?.publishIgnoringFailure(RecordDeleted(cid: cid))
                }
            }
        } catch let error as StoreError {
            throw error.rpcError
        }
        return Google_Protobuf_Empty()
    }

    public func pushReferrer(
        request: RPCAsyncSequence<Agntcy_Dir_Store_V1_PushReferrerRequest, any Error>,
        response: RPCWriter<Agntcy_Dir_Store_V1_PushReferrerResponse>, context: ServerContext
    ) async throws {
        try await answer(request, response) { request in
            let cid = try Self.requiredCID(request.recordRef.cid)
            let kind: RecordRepository.ReferrerKind
            let referrer: RecordRepository.Referrer
            switch request.options {
            case nil:
                return { nil }  // upstream skips a request with neither option, sending nothing
            case .signature(let signature)?:
                kind = .signature
                referrer = .init(value: signature.signature, payload: signature.annotations["payload"] ?? "")
            case .publicKey(let key)?:
                guard !key.isEmpty else { return { .failure("public key is required") } }
                kind = .publicKey
                referrer = .init(value: key, payload: "")
            }
            guard PostgresText.canStoreAll([referrer.value, referrer.payload]) else {
                return { .failure("the referrer contains a NUL character (U+0000), which cannot be stored") }
            }
            return { [self] in
                let stored = try await storage("push referrer") { try await repository.putReferrer(kind, of: cid, referrer) }
                return stored ? .with { $0.success = true } : .failure("record not found: \(cid)")
            }
        }
    }

    public func pullReferrer(
        request: RPCAsyncSequence<Agntcy_Dir_Store_V1_PullReferrerRequest, any Error>,
        response: RPCWriter<Agntcy_Dir_Store_V1_PullReferrerResponse>, context: ServerContext
    ) async throws {
        try await answer(request, response) { request in
            let cid = try Self.requiredCID(request.recordRef.cid)
            switch request.options {
            case nil:
                return { nil }
            case .pullSignature?:
                return { [self] in
                    // Upstream answers an unknown record or a missing signature with an empty Signature.
                    let stored = try await storage("pull referrer") { try await repository.referrer(.signature, of: cid) }
                    return .with {
                        $0.signature = .with { signature in
                            if let stored {
                                signature.signature = stored.value
                                signature.annotations = ["payload": stored.payload]
                            }
                        }
                    }
                }
            case .pullPublicKey?:
                return { [self] in
                    let stored = try await storage("pull referrer") { try await repository.referrer(.publicKey, of: cid) }
                    return .with { $0.publicKey = stored?.value ?? "" }
                }
            }
        }
    }

    // MARK: - Helpers

    static func requiredCID(_ cid: String) throws(StoreError) -> String {
        guard !cid.isEmpty else { throw .cidRequired }
        return cid
    }

    /// Runs a repository call; an unexpected failure is logged with context and becomes INTERNAL.
    private func storage<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(operation, logger: logger, "store operation failed", as: StoreError.storage, body)
    }

    private func answer<Request: Sendable, Response: Sendable>(
        _ requests: RPCAsyncSequence<Request, any Error>, _ writer: RPCWriter<Response>,
        prepare: (Request) throws -> OrderedAnswers.Operation<Response>
    ) async throws {
        do {
            try await OrderedAnswers.answer(requests, into: writer, window: Self.streamWindow, prepare: prepare)
        } catch let error as StoreError {
            throw error.rpcError
        }
    }
}

extension Agntcy_Dir_Store_V1_PushReferrerResponse {
    static func failure(_ message: String) -> Self {
        .with {
            $0.success = false
            $0.errorMessage = message
        }
    }
}
