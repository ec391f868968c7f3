import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RecordIdentity
import ServiceLifecycle
import WharfEncoding
import WharfRuntime

/// The store's read-only OCI distribution API (`WHARF_STORE_OCI_LISTEN`), which agntcy sync clients
/// enumerate records through: repository `dir`, one manifest per record tagged by its CID (OCIManifest),
/// blobs by digest. Every request needs basic-auth credentials issued by RequestRegistryCredentials
/// (RegistryCredentialStore); anonymous, expired and revoked ones get 401 with `WWW-Authenticate`.
public final class OCIRegistry: Service, Sendable {
    static let apiVersionHeader = HTTPField.Name("Docker-Distribution-API-Version")!
    static let contentDigestHeader = HTTPField.Name("Docker-Content-Digest")!
    static let linkHeader = HTTPField.Name("Link")!
    /// The one repository (upstream's default name).
    public static let repository = "dir"
    /// Tags one tag-list page answers at most, whatever `n` asks (clients follow the `Link` header).
    public static let maximumPage = 10_000

    private let address: HostPort
    /// How long a connection may be sent nothing (`WHARF_HTTP_IDLE_TIMEOUT`).
    private let quietTimeout: Duration
    private let records: RecordRepository
    private let credentials: RegistryCredentialStore
    private let logger: Logger
    private let bound = OnceValue<Int>()

    public init(
        address: HostPort, records: RecordRepository, credentials: RegistryCredentialStore, logger: Logger,
        quietTimeout: Duration = .seconds(10)
    ) {
        self.quietTimeout = quietTimeout
        self.address = address
        self.records = records
        self.credentials = credentials
        self.logger = logger
    }

    /// The bound port (useful when configured with port 0); waits until the listener is up.
    public func boundPort() async -> Int {
        await bound.value
    }

    public func run() async throws {
        let router = Router()
        router.add(middleware: BasicAuthenticationMiddleware(credentials: credentials, logger: logger))
        for method in [HTTPRequest.Method.get, .head] {
            router.on("v2", method: method) { _, _ in Self.json(#"{}"#) }
            router.on("v2/_catalog", method: method) { [records] request, _ in
                let (limit, last) = try Self.page(request)
                let hasRecords = last.isEmpty && limit > 0 ? !(try await Self.loading { try await records.cids(after: "", limit: 1) }).isEmpty : false
                return Self.json(hasRecords ? #"{"repositories":["dir"]}"# : #"{"repositories":[]}"#)
            }
            router.on("v2/:name/tags/list", method: method) { [records] request, context in
                try Self.requireRepository(context)
                let (limit, last) = try Self.page(request)
                let page = try await Self.loading { try await records.cids(after: last, limit: limit + 1) }
                let tags = page.prefix(limit)
                var headers: HTTPFields = [:]
                if page.count > limit, let next = tags.last {
                    headers[Self.linkHeader] = "</v2/\(Self.repository)/tags/list?n=\(limit)&last=\(next)>; rel=\"next\""
                }
                let body = #"{"name":"dir","tags":["# + tags.map { OCIManifest.quoted($0) }.joined(separator: ",") + "]}"
                return Self.json(body, headers: headers)
            }
            router.on("v2/:name/manifests/:reference", method: method) { [records] request, context in
                try Self.requireRepository(context)
                let reference = try context.parameters.require("reference")
                let cid: String
                if reference.hasPrefix("sha256:") {
                    guard let found = try await Self.loading({ try await records.cid(forManifestDigest: reference) }) else {
                        throw OCIRegistryError.manifestUnknown(reference)
                    }
                    cid = found
                } else {
                    cid = reference
                }
                guard let data = try await Self.loading({ try await records.data(of: cid) }),
                    let meta = try await Self.loading({ try await records.meta(of: cid) })
                else {
                    throw OCIRegistryError.manifestUnknown(reference)
                }
                let manifest = OCIManifest(cid: cid, layerSize: data.readableBytes, annotations: meta.annotations.manifest)
                if reference.hasPrefix("sha256:"), manifest.digest != reference { throw OCIRegistryError.manifestUnknown(reference) }
                return Self.content(manifest.bytes, type: OCIManifest.mediaType, digest: manifest.digest, head: request.method == .head)
            }
            router.on("v2/:name/blobs/:digest", method: method) { [records] request, context in
                try Self.requireRepository(context)
                let digest = try context.parameters.require("digest")
                if digest == OCIManifest.emptyConfigDigest {
                    return Self.content(
                        OCIManifest.emptyConfig, type: "application/vnd.oci.empty.v1+json", digest: digest,
                        head: request.method == .head)
                }
                guard digest.hasPrefix("sha256:"), let bytes = Data(hexString: digest.dropFirst(7)).map(Array.init), bytes.count == 32,
                    let data = try await Self.loading({ try await records.data(of: RecordCID.string(digest: bytes)) })
                else {
                    throw OCIRegistryError.blobUnknown(digest)
                }
                return Self.content(Array(buffer: data), type: "application/octet-stream", digest: digest, head: request.method == .head)
            }
        }
        // Writes are not part of this registry: answer the distribution spec's push and delete endpoints with
        // UNSUPPORTED.
        let writes: [(String, HTTPRequest.Method)] = [
            ("v2/:name/manifests/:reference", .put), ("v2/:name/manifests/:reference", .delete),
            ("v2/:name/blobs/:digest", .delete), ("v2/:name/blobs/uploads", .post),
        ]
        for (path, method) in writes {
            router.on(RouterPath(path), method: method) { _, _ -> Response in throw OCIRegistryError.unsupported }
        }
        // Connections are sent something at least every `quietTimeout` or closed (a half-sent request, an
        // idle keep-alive); a download in progress keeps writing.
        let connections = HTTPConnectionGuard(perAddress: 256, total: 4096, quietTimeout: quietTimeout)
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in connections.guarding(HTTP1Channel(responder: responder)) },
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [bound] channel in bound.set(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await application.run()
    }

    /// The `:name` path segment must be `dir`.
    private static func requireRepository(_ context: BasicRequestContext) throws {
        let name = context.parameters.get("name") ?? ""
        guard name == repository else { throw OCIRegistryError.nameUnknown(name) }
    }

    /// `n` (at most maximumPage; absent: maximumPage) and `last` of a paginated list.
    private static func page(_ request: Request) throws -> (limit: Int, last: String) {
        let query = request.uri.queryParameters
        var limit = maximumPage
        if let text = query["n"] {
            guard let value = Int(text), value >= 0 else { throw OCIRegistryError.paginationInvalid("n must be a non-negative number") }
            limit = min(value, maximumPage)
        }
        let last = String(query["last"] ?? "")
        guard last.utf8.count <= 256, PostgresText.canStore(last) else { throw OCIRegistryError.paginationInvalid("last is not a tag") }
        return (limit, last)
    }

    private static func loading<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as OCIRegistryError {
            throw error
        } catch {
            throw OCIRegistryError.unavailable
        }
    }

    private static func json(_ body: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[apiVersionHeader] = "registry/2.0"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private static func content(_ bytes: [UInt8], type: String, digest: String, head: Bool) -> Response {
        let headers: HTTPFields = [
            .contentType: type, .contentLength: String(bytes.count), contentDigestHeader: digest, apiVersionHeader: "registry/2.0",
        ]
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Basic auth against RegistryCredentialStore for every request (unknown paths included, so the registry's
/// layout is not visible to anonymous callers).
struct BasicAuthenticationMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let credentials: RegistryCredentialStore
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Basic "),
            header.utf8.count <= 1024,
            let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
            let colon = decoded.firstIndex(of: ":")
        else {
            throw OCIRegistryError.unauthorized
        }
        let username = String(decoded[..<colon])
        let password = String(decoded[decoded.index(after: colon)...])
        let node: String?
        do {
            node = try await credentials.verify(username: username, password: password)
        } catch {
            logger.warning("registry credential check failed", metadata: ["error": "\(String(reflecting: error))"])
            throw OCIRegistryError.unavailable
        }
        guard node != nil else { throw OCIRegistryError.unauthorized }
        return try await next(request, context)
    }
}
