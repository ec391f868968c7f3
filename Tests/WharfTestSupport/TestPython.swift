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
