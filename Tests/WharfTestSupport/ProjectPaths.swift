import Foundation

/// Paths inside the checkout, for tests that read the vendored fixtures or run project files.
public enum ProjectPaths {
    /// The repository root (this file is Tests/WharfTestSupport/ProjectPaths.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A file under `Tests/Fixtures` (vendored copies of ../shared), e.g. `testdata/blake3_test_vectors.json`.
    public static func fixture(_ relativePath: String) -> URL {
        root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relativePath)
    }
}
