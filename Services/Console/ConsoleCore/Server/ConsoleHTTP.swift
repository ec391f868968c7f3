import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The console's request context: the caller's address for the sign-in rate limit.
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Responses as the console sends them: never cached, never framed, scripts and styles from itself only.
enum ConsoleHTTP {
    static let securityHeaders: HTTPFields = [
        .cacheControl: "no-store",
        .contentSecurityPolicy:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    static func html(_ text: String, status: HTTPResponse.Status = .ok, cookies: [String] = []) -> Response {
        respond(ByteBuffer(string: text), type: "text/html; charset=utf-8", status: status, cookies: cookies)
    }

    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        respond(ByteBuffer(bytes: data), type: "application/json", status: status)
    }

    static func text(_ text: String, status: HTTPResponse.Status) -> Response {
        respond(ByteBuffer(string: text + "\n"), type: "text/plain; charset=utf-8", status: status)
    }

    static func asset(_ text: String, type: String) -> Response {
        var response = respond(ByteBuffer(string: text), type: type, status: .ok)
        response.headers[.cacheControl] = "public, max-age=300"
        return response
    }

    /// 303 See Other: a form's answer, so that reloading the page does not post again.
    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var response = respond(ByteBuffer(), type: "text/plain", status: .seeOther, cookies: cookies)
        response.headers[.location] = location
        return response
    }

    private static func respond(_ body: ByteBuffer, type: String, status: HTTPResponse.Status, cookies: [String] = []) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// A cookie only this console reads: HttpOnly, SameSite=Strict, Secure when served over HTTPS.
    static func cookie(_ name: String, _ value: String, maxAge: Int64, secure: Bool) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    static func expiredCookie(_ name: String, secure: Bool) -> String { cookie(name, "", maxAge: 0, secure: secure) }

    /// The value of cookie `name` in the request's Cookie headers.
    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return String(parts[1]).trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// Form fields larger than this are refused (413): a config push is the largest form.
    static let maximumFormBytes = 1 << 20

    /// An `application/x-www-form-urlencoded` body as fields (the last value of a repeated name wins, except
    /// through `all`).
    static func form(_ request: Request) async throws -> FormFields {
        let body = try await request.body.collect(upTo: maximumFormBytes)
        return FormFields(String(buffer: body))
    }
}

/// Fields of an urlencoded form. No I/O.
struct FormFields: Sendable {
    let pairs: [(String, String)]

    init(_ text: String) {
        // A pair whose name or value does not decode (invalid percent-encoding, not UTF-8) is dropped.
        pairs = text.split(separator: "&").compactMap { piece in
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first.flatMap({ Self.decode($0) }) else { return nil }
            guard parts.count > 1 else { return (name, "") }
            return Self.decode(parts[1]).map { (name, $0) }
        }
    }

    subscript(_ name: String) -> String? { pairs.last { $0.0 == name }?.1 }

    func all(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }

    static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
