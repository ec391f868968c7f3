import HTTPTypes
import Hummingbird
import NIOCore

/// An error of the OCI distribution API: its HTTP status and the spec's JSON body
/// (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}`).
struct OCIRegistryError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    static let unauthorized = OCIRegistryError(
        status: .unauthorized, code: "UNAUTHORIZED",
        message: "authentication required: use the credentials from RequestRegistryCredentials")
    static func nameUnknown(_ name: some StringProtocol) -> OCIRegistryError {
        OCIRegistryError(
            status: .notFound, code: "NAME_UNKNOWN", message: "repository \"\(name.prefix(64))\" is not known; this registry has \"dir\"")
    }
    static func manifestUnknown(_ reference: some StringProtocol) -> OCIRegistryError {
        OCIRegistryError(status: .notFound, code: "MANIFEST_UNKNOWN", message: "manifest unknown: \(reference.prefix(128))")
    }
    static func blobUnknown(_ digest: some StringProtocol) -> OCIRegistryError {
        OCIRegistryError(status: .notFound, code: "BLOB_UNKNOWN", message: "blob unknown: \(digest.prefix(128))")
    }
    static func paginationInvalid(_ problem: String) -> OCIRegistryError {
        OCIRegistryError(status: .badRequest, code: "PAGINATION_NUMBER_INVALID", message: problem)
    }
    static let unsupported = OCIRegistryError(status: .methodNotAllowed, code: "UNSUPPORTED", message: "this registry is read-only")
    static let unavailable = OCIRegistryError(status: .serviceUnavailable, code: "UNAVAILABLE", message: "the record database is unavailable")

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json", OCIRegistry.apiVersionHeader: "registry/2.0"]
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Basic realm="wharf-store""# }
        var body = #"{"errors":[{"code":"\#(code)","message":"#
        body += OCIManifest.quoted(message) + "}]}"
        return Response(
            status: status, headers: headers,
            body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(string: body)))
    }
}
