import Foundation

/// One GET with curl (a plain HTTP client; Foundation's URLSession waits on a 401's challenge on Linux):
/// the status, the headers (names capitalised) and the body.
public func httpGet(_ url: String, basic: String? = nil) async throws -> (status: Int, headers: [String: String], body: String) {
    var arguments = ["-s", "-i", "--max-time", "10"]
    if let basic { arguments += ["-u", basic] }
    let run = try await runExecutable(
        "/usr/bin/curl", arguments + [url],
        environment: ["HOME": FileManager.default.temporaryDirectory.path], timeout: .seconds(60))
    let parts = run.output.components(separatedBy: "\r\n\r\n")
    let head = parts.first ?? ""
    let body = parts.dropFirst().joined(separator: "\r\n\r\n")
    let lines = head.components(separatedBy: "\r\n")
    let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].capitalized] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return (status, headers, body)
}
