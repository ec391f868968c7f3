import Foundation
import WharfTestSupport

/// A person's browser reduced to what the console's tests need, over curl: cookies kept between requests,
/// forms posted urlencoded, headers (Origin) chosen per request.
final class ConsoleHTTPClient: @unchecked Sendable {
    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var setCookies: [String] { headers.filter { $0.0.lowercased() == "set-cookie" }.map(\.1) }
    }

    let base: String
    private(set) var cookies: [String: String] = [:]

    init(port: Int) {
        base = "http://127.0.0.1:\(port)"
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> Answer {
        try await send(["-X", "GET"], path: path, headers: headers)
    }

    /// Posts `fields` (urlencoded, in order).
    func post(_ path: String, _ fields: [(String, String)], headers: [String: String] = [:]) async throws -> Answer {
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await post(body: body, to: path, headers: headers)
    }

    /// Posts `body` from a file (a form of megabytes is longer than an argument list may be).
    private func post(body: String, to path: String, headers: [String: String]) async throws -> Answer {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("console-form-\(UUID().uuidString)").path
        try Data(body.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try await send(
            ["-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", "@" + file], path: path, headers: headers)
    }

    /// Posts `body` exactly as given (urlencoded, however malformed).
    func send(raw body: String, to path: String) async throws -> Answer {
        try await post(body: body, to: path, headers: [:])
    }

    func forget(_ name: String) { cookies[name] = nil }

    private func send(_ arguments: [String], path: String, headers: [String: String]) async throws -> Answer {
        var all = ["-s", "-i", "--max-time", "20"] + arguments
        if !cookies.isEmpty {
            all += ["-H", "Cookie: " + cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")]
        }
        for (name, value) in headers { all += ["-H", "\(name): \(value)"] }
        let run = try await runExecutable(
            "/usr/bin/curl", all + [base + path], environment: ["HOME": FileManager.default.temporaryDirectory.path], timeout: .seconds(60))
        guard let split = run.output.range(of: "\r\n\r\n") else { throw TestSupportError("no HTTP answer from \(path): \(run.output.prefix(300))") }
        let head = run.output[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let answer = Answer(status: status, headers: fields, body: String(run.output[split.upperBound...]))
        for cookie in answer.setCookies {
            guard let pair = cookie.split(separator: ";").first, let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals])
            let value = String(pair[pair.index(after: equals)...])
            if cookie.contains("Max-Age=0") || value.isEmpty { cookies[name] = nil } else { cookies[name] = value }
        }
        return answer
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The value of the hidden `csrf` field of the first form in `html`.
    static func csrf(in html: String) -> String? {
        guard let field = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        let rest = html[field.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// Signs in with `token` through the login form, as a person would.
    @discardableResult
    func signIn(_ token: String) async throws -> Answer {
        let login = try await get("/login")
        guard let csrf = Self.csrf(in: login.body) else { throw TestSupportError("no CSRF field on the login page") }
        return try await post("/login", [("csrf", csrf), ("token", token)])
    }
}
