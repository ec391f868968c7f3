import Foundation

/// Path of an executable product built next to the test bundle (`swift build --build-tests` builds all
/// products into the same folder).
public func builtExecutable(_ name: String) throws -> String {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var folder = testBinary.deletingLastPathComponent()
    // On Linux the bundle is a file (WharfPackageTests.xctest); on macOS a folder with Contents/MacOS.
    while !folder.path.hasSuffix("/debug") && !folder.path.hasSuffix("/release") && folder.path != "/" {
        folder.deleteLastPathComponent()
    }
    let path = folder.appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw TestSupportError("\(path) not found: build every product first (swift build --build-tests)")
    }
    return path
}

/// Runs an executable with the given environment; returns its exit code and combined output.
public func runExecutable(
    _ path: String, _ arguments: [String], environment: [String: String], timeout: Duration = .seconds(60)
) async throws -> (status: Int32?, output: String) {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-exe-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WHARF_") }
    env.merge(environment) { $1 }
    let process = try SpawnedProcess.spawn(path, arguments, environment: env, outputPath: outputPath)
    let status = await process.waitForExit(timeout: timeout)
    if status == nil { await process.stop() }
    return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
}
