import Foundation
import Testing
import WharfTestSupport

/// The README's configuration table must list every WHARF_* variable the code reads.
@Suite("Documentation")
struct DocumentationTests {
    static let root = ProjectPaths.root

    static func variablesInSources() throws -> Set<String> {
        var names: Set<String> = []
        let pattern = /"(WHARF_[A-Z0-9_]+)"/
        for folder in ["Shared", "Services"] {
            guard let files = FileManager.default.enumerator(atPath: root.appendingPathComponent(folder).path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: root.appendingPathComponent(folder).appendingPathComponent(file), encoding: .utf8)
                for match in text.matches(of: pattern) { names.insert(String(match.1)) }
            }
        }
        return names
    }

    @Test("README lists every WHARF_* variable read by the code")
    func readmeListsVariables() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let variables = try Self.variablesInSources()
        #expect(variables.count >= 18)
        for variable in variables.sorted() {
            #expect(readme.contains("`\(variable)`"), "README.md does not document \(variable)")
        }
    }
}
