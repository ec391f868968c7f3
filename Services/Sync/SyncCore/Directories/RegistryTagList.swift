import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import WharfRuntime

/// The tags of a remote Directory's OCI repository `dir` (upstream's zot layout tags each record by its
/// CID), read page by page from `GET /v2/dir/tags/list?n=…` following the `Link` header, with the basic-auth
/// credentials the remote issued. The way to enumerate a Directory that is not a Wharf node. Plain HTTP, as
/// upstream dials `http://<remote_registry_url>`; every answer is bounded.
public struct RegistryTagList: Sendable {
    /// Tags asked for per page (a Wharf registry answers at most 10,000; zot honours larger pages).
    public static let pageSize = 10_000
    /// A page larger than this is refused (10,000 CIDs of ~60 bytes are ~0.7 MB).
    public static let maximumPageBytes = 16 * 1024 * 1024
    /// Tags read at most from one remote (beyond it the round fails: 2,000,000 CIDs are ~140 MB held here).
    public static let maximumTags = 2_000_000
    /// Pages read at most (a remote whose `Link` never ends is given up).
    public static let maximumPages = 10_000
    /// Bytes of all pages of one listing together, and the longest tag (a CID is ~60 bytes).
    public static let maximumListingBytes = 256 * 1024 * 1024
    public static let maximumTagBytes = 256
    /// The whole listing's time (each page has `timeout` within it).
    public static let maximumListingDuration: Duration = .seconds(600)
    /// This listing's overall limit (`maximumListingDuration` unless a test shortens it).
    public var listingDuration = Self.maximumListingDuration

    public let host: String
    public let port: Int
    /// The address dialled: the one the allow list checked (`host` stays the `Host` header).
    public var address: IPAddressBytes?
    public let authorization: String?
    public let timeout: Duration

    /// `registry` is `host:port` as RequestRegistryCredentials returns it (an `http://` prefix is accepted).
    public init(registry: String, username: String, password: String, timeout: Duration = .seconds(30)) throws(RegistryTagListError) {
        var address = registry
        if address.hasPrefix("http://") { address.removeFirst("http://".count) }
        if let slash = address.firstIndex(of: "/") { address = String(address[..<slash]) }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
            throw RegistryTagListError("registry address \"\(registry.prefix(128))\" is not host:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw RegistryTagListError("registry address \"\(registry.prefix(128))\" has no host") }
        self.host = host
        self.port = port
        self.timeout = timeout
        authorization =
            username.isEmpty && password.isEmpty
            ? nil : "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// Every tag, and the bytes the answers took on the wire (headers and bodies).
    public func all() async throws -> (tags: [String], bytes: Int) {
        var tags: [String] = []
        var bytes = 0
        var path: String? = "/v2/dir/tags/list?n=\(Self.pageSize)"
        var pages = 0
        let ends = ContinuousClock.now + listingDuration
        while let next = path {
            pages += 1
            guard pages <= Self.maximumPages else { throw RegistryTagListError("the tag list did not end within \(Self.maximumPages) pages") }
            let left = ends - ContinuousClock.now
            guard left > .zero else { throw RegistryTagListError("the tag list did not end within \(listingDuration)") }
            let response: Response
            do {
                response = try await get(next, timeout: min(timeout, left))
            } catch  where ContinuousClock.now >= ends {
                // The page was cut short by the whole listing's limit: that is the bound to name.
                throw RegistryTagListError("the tag list did not end within \(listingDuration)")
            }
            bytes += response.bytes
            guard bytes <= Self.maximumListingBytes else {
                throw RegistryTagListError("the tag list is larger than \(Self.maximumListingBytes) bytes")
            }
            switch response.status {
            case 200:
                break
            case 401:
                throw RegistryTagListError("the registry refused the credentials (401)")
            case 404:
                throw RegistryTagListError("the registry has no repository dir (404)")
            default:
                throw RegistryTagListError("the registry answered HTTP \(response.status) to \(next.prefix(128))")
            }
            struct Page: Decodable { var tags: [String]? }
            let page: Page
            do {
                page = try JSONDecoder().decode(Page.self, from: response.body)
            } catch {
                throw RegistryTagListError("the tag list page is not JSON: \(error)")
            }
            if let long = page.tags?.first(where: { $0.utf8.count > Self.maximumTagBytes }) {
                throw RegistryTagListError("the tag list holds a tag of \(long.utf8.count) bytes (at most \(Self.maximumTagBytes))")
            }
            tags += page.tags ?? []
            guard tags.count <= Self.maximumTags else { throw RegistryTagListError("the remote lists more than \(Self.maximumTags) tags") }
            path = Self.nextPath(link: response.link)
        }
        return (tags, bytes)
    }

    /// The target of a `Link: <…>; rel="next"` header, if it names a path on this registry.
    static func nextPath(link: String?) -> String? {
        guard let link, link.contains("rel=\"next\""), let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">"),
            open < close
        else { return nil }
        var target = String(link[link.index(after: open)..<close])
        if let scheme = target.range(of: "://") {
            // An absolute URL: keep its path (the registry is the one the credentials are for).
            guard let slash = target[scheme.upperBound...].firstIndex(of: "/") else { return nil }
            target = String(target[slash...])
        }
        return target.hasPrefix("/v2/") ? target : nil
    }

    struct Response {
        var status: Int
        var link: String?
        var body: Data
        var bytes: Int
    }

    /// One GET on its own connection (a page takes milliseconds; keeping connections is not worth its state).
    func get(_ path: String, timeout: Duration) async throws -> Response {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(10))
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        if let address {
            channel = try await bootstrap.connect(to: try SocketAddress(ipAddress: "\(address)", port: port), channelInitializer: initializer)
        } else {
            channel = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
        }
        return try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                    head.headers.add(name: "Host", value: port == 80 ? host : "\(host):\(port)")
                    head.headers.add(name: "Accept", value: "application/json")
                    head.headers.add(name: "Connection", value: "close")
                    if let authorization { head.headers.add(name: "Authorization", value: authorization) }
                    // Head and end in one write: a registry that answers and closes as soon as it has read the
                    // head (HTTP/1.0 style) must not make the second write fail on a closed channel.
                    try await outbound.write(contentsOf: [.head(head), .end(nil)])
                    var response = Response(status: 0, link: nil, body: Data(), bytes: 0)
                    for try await part in inbound {
                        switch part {
                        case .head(let head):
                            response.status = Int(head.status.code)
                            response.link = head.headers.first(name: "Link")
                            response.bytes += head.headers.reduce(16) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
                        case .body(let buffer):
                            response.bytes += buffer.readableBytes
                            guard response.body.count + buffer.readableBytes <= Self.maximumPageBytes else {
                                throw RegistryTagListError("a tag list page is larger than \(Self.maximumPageBytes) bytes")
                            }
                            response.body.append(contentsOf: buffer.readableBytesView)
                        case .end:
                            return response
                        }
                    }
                    throw RegistryTagListError("the registry closed the connection before the answer ended")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw RegistryTagListError("the registry did not answer within \(timeout)")
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw RegistryTagListError("no answer") }
            return first
        }
    }
}

public struct RegistryTagListError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
