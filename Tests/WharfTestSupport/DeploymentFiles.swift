import Foundation

/// The project's YAML deployment files (docker-compose.yml, k8s/*.yaml) as JSON values, read by PyYAML in the
/// test Python (Swift has no YAML parser among this project's packages; the virtualenv has PyYAML).
public enum DeploymentFiles {
    /// Every document of the YAML file at `relativePath` (from the repository root).
    public static func documents(_ relativePath: String) async throws -> [[String: Any]] {
        let source = ProjectPaths.root.appendingPathComponent(relativePath).path
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-yaml-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: target) }
        let script = "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None], open(sys.argv[2], 'w'))"
        let result = try await runExecutable(try testPython(), ["-c", script, source, target], environment: [:])
        guard result.status == 0, let data = FileManager.default.contents(atPath: target),
            let documents = try JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else {
            throw TestSupportError("could not read \(relativePath) as YAML: \(result.output)")
        }
        return documents
    }

    /// Every `k8s/*.yaml` document.
    public static func kubernetes() async throws -> [[String: Any]] {
        let folder = ProjectPaths.root.appendingPathComponent("k8s").path
        var documents: [[String: Any]] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() where file.hasSuffix(".yaml") {
            documents += try await self.documents("k8s/\(file)")
        }
        return documents
    }
}
