import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import WharfProto
import WharfTestSupport

/// The built `wharfctl` against a real store, routing and gateway (separate processes), as a user runs it.
@Suite("wharfctl record and routing: push, pull, look up, publish, list, search and delete through the gateway", .serialized)
struct WharfctlRecordRoutingTests {
    /// Runs wharfctl with `arguments` (and the gateway's address); stdout and stderr apart.
    struct Run {
        let status: Int32?
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        var json: [[String: Any]] {
            lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }
    }

    static func wharfctl(_ arguments: [String], gateway: Int?, folder: String) async throws -> Run {
        let executable = try builtExecutable("wharfctl")
        let out = "\(folder)/out-\(UUID().uuidString)", err = "\(folder)/err-\(UUID().uuidString)"
        let address = gateway.map { ["--address", "127.0.0.1:\($0)"] } ?? []
        let quoted = ([executable] + arguments + address).map(Self.shellQuoted).joined(separator: " ")
        let result = try await runExecutable("/bin/sh", ["-c", "\(quoted) >\(out) 2>\(err)"], environment: [:], timeout: .seconds(60))
        return Run(
            status: result.status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    static func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @Test(
        "upstream's vector records pushed from files get upstream's CIDs; pulled back as the same JSON; looked up; published, listed and found by label; deleted; bad input exits non-zero on one line"
    )
    func recordsAndRouting() async throws {
        let system = try await WharfSystem.start(only: ["store", "routing", "gateway"])
        defer { Task { await system.stop() } }
        let gateway = system.port("gateway")
        let folder = try TemporaryDirectories.make(prefix: "wharfctl-record")
        func run(_ arguments: String...) async throws -> Run { try await Self.wharfctl(arguments, gateway: gateway, folder: folder) }

        // Upstream's vectors, each as a file a user would have.
        let vectors = try UpstreamRecordVectors.load()
        #expect(vectors.count >= 2)
        var files: [String] = []
        for (index, vector) in vectors.enumerated() {
            let path = "\(folder)/vector-\(index).json"
            try Data(try vector.record.data.jsonString().utf8).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        let pushed = try await Self.wharfctl(["record", "push"] + files, gateway: gateway, folder: folder)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(pushed.lines == vectors.map(\.cid), "\(pushed.stdout)")

        let pulled = try await run("record", "pull", vectors[0].cid)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try Google_Protobuf_Struct(jsonString: pulled.stdout.trimmingCharacters(in: .newlines)) == vectors[0].record.data)
        let pulledJSON = try await run("record", "pull", vectors[1].cid, "--output", "json")
        #expect(pulledJSON.json.first?["cid"] as? String == vectors[1].cid)
        #expect(pulledJSON.json.first?["record"] is [String: Any])

        let looked = try await run("record", "lookup", vectors[0].cid, "--output", "json")
        #expect(looked.status == 0 && looked.json.first?["cid"] as? String == vectors[0].cid, "\(looked.stdout) \(looked.stderr)")
        let signInfo = try await run("record", "sign-info", vectors[0].cid)
        #expect(signInfo.stdout == "signature: (none)\npublic_key: (none)\n", "\(signInfo.stdout)")
        // A signed record (its signature and public key pushed as referrers, as dirctl sign does): both shown.
        let publicKey = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ==\n-----END PUBLIC KEY-----\n"
        let referred = try await withTestClient(port: gateway) { client in
            try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pushReferrer(
                request: StreamingClientRequest { writer in
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = vectors[1].cid;
                            $0.signature = .with {
                                $0.signature = "MEUCIQ=="
                                $0.annotations = ["payload": "{\"critical\":{}}"]
                            }
                        })
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = vectors[1].cid; $0.publicKey = publicKey
                        })
                }
            ) { response in try await response.messages.reduce(into: [Bool]()) { $0.append($1.success) } }
        }
        #expect(referred == [true, true])
        let signed = try await run("record", "sign-info", vectors[1].cid)
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stdout == "signature: MEUCIQ==\npublic_key: \(publicKey)\n", "\(signed.stdout)")
        let signedJSON = try #require(try await run("record", "sign-info", vectors[1].cid, "--output", "json").json.first)
        #expect(signedJSON["signed"] as? Bool == true)
        #expect(signedJSON["signature"] as? String == "MEUCIQ==")
        #expect(signedJSON["annotations"] as? [String: String] == ["payload": "{\"critical\":{}}"])
        #expect(signedJSON["public_key"] as? String == publicKey)
        let unsignedJSON = try #require(try await run("record", "sign-info", vectors[0].cid, "--output", "json").json.first)
        #expect(unsignedJSON["signed"] as? Bool == false && unsignedJSON["public_key"] == nil, "\(unsignedJSON)")

        // A labelled record from standard input, published as it is pushed.
        let skill = "Natural Language Processing/Text Completion"
        let labelled = labelledRecord("wharfctl-walkthrough", skills: [skill], locators: ["docker-image"])
        let labelledFile = "\(folder)/labelled.json"
        try Data(try labelled.data.jsonString().utf8).write(to: URL(fileURLWithPath: labelledFile))
        let fromStdin = try await runExecutable(
            "/bin/sh",
            [
                "-c",
                ([
                    try builtExecutable("wharfctl"), "record", "push", "-", "--publish", "--output", "json",
                    "--address", "127.0.0.1:\(gateway)",
                ].map(Self.shellQuoted).joined(separator: " "))
                    + " <" + Self.shellQuoted(labelledFile),
            ], environment: [:])
        let pushedJSON = try #require((try? JSONSerialization.jsonObject(with: Data(fromStdin.output.utf8))) as? [String: Any], "\(fromStdin.output)")
        let labelledCID = try #require(pushedJSON["cid"] as? String)
        #expect(pushedJSON["published"] as? Bool == true && pushedJSON["file"] as? String == "-")

        let listed = try await run("routing", "list", "--skill", skill)
        #expect(listed.status == 0 && listed.lines == [labelledCID], "\(listed.stdout) \(listed.stderr)")
        let none = try await run("routing", "list", "--skill", skill, "--locator", "helm-chart")
        #expect(none.status == 0 && none.lines.isEmpty, "\(none.stdout)")
        let search = try await run("routing", "search", "--skill", skill, "--locator", "helm-chart", "--min-score", "1")
        #expect(search.status == 0, "\(search.stderr)")
        #expect(search.lines.first?.hasPrefix("CID") == true && search.lines.first?.contains("SCORE") == true, "\(search.stdout)")
        #expect(search.lines.dropFirst().map { $0.split(separator: " ").first.map(String.init) } == [labelledCID], "\(search.stdout)")
        let searchJSON = try await run("routing", "search", "--skill", skill, "--output", "json")
        #expect(searchJSON.json.first?["cid"] as? String == labelledCID && searchJSON.json.first?["score"] as? Int == 1, "\(searchJSON.stdout)")
        #expect(searchJSON.json.first?["matched"] as? [String] == ["skill=\(skill)"])
        let twice = try await run("routing", "search", "--skill", skill, "--min-score", "2", "--output", "json")
        #expect(twice.status == 0 && twice.lines.isEmpty, "\(twice.stdout)")

        let unpublished = try await run("routing", "unpublish", labelledCID)
        #expect(unpublished.status == 0 && unpublished.stdout == "unpublished \(labelledCID)\n")
        #expect(try await eventually { try await run("routing", "list", "--skill", skill).lines.isEmpty })
        let republished = try await run("routing", "publish", labelledCID, "--output", "json")
        #expect(republished.json.first?["published"] as? Bool == true)

        let deleted = try await run("record", "delete", vectors[0].cid)
        #expect(deleted.status == 0 && deleted.stdout == "deleted \(vectors[0].cid)\n", "\(deleted.stderr)")
        let gone = try await run("record", "pull", vectors[0].cid)
        #expect(gone.status == 1 && gone.stdout.isEmpty, "\(gone.stdout)")
        #expect(gone.stderr.hasPrefix("wharfctl: NOT_FOUND: ") && gone.stderr.split(separator: "\n").count == 1, "\(gone.stderr)")

        // Bad input: exit codes as documented, one line each, never a stack trace.
        try Data("name: not json".utf8).write(to: URL(fileURLWithPath: "\(folder)/not.json"))
        let notJSON = try await run("record", "push", "\(folder)/not.json")
        #expect(notJSON.status == 65 && notJSON.stderr.hasPrefix("wharfctl: \(folder)/not.json: not a JSON object"), "\(notJSON.stderr)")
        let missing = try await run("record", "push", "\(folder)/absent.json")
        #expect(missing.status == 65 && missing.stderr.contains("cannot be read"), "\(missing.stderr)")
        let noLabels = try await run("routing", "search")
        #expect(noLabels.status == 78 && noLabels.stderr.hasPrefix("wharfctl: routing search: "), "\(noLabels.stderr)")
        let unknown = try await run("routing", "publish", "baeareiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        #expect(
            unknown.status == 1 && unknown.stderr.hasPrefix("wharfctl: ") && unknown.stderr.split(separator: "\n").count == 1, "\(unknown.stderr)")
        let badAddress = try await Self.wharfctl(["record", "lookup", labelledCID, "--address", "nowhere"], gateway: nil, folder: folder)
        #expect(badAddress.status == 78, "\(badAddress.stderr)")
        for result in [gone, notJSON, missing, noLabels, unknown] {
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"), "\(result.stderr)")
        }
    }

    @Test("completion scripts for bash, zsh and fish name wharfctl's commands; an unknown shell exits 64")
    func completion() async throws {
        let folder = try TemporaryDirectories.make(prefix: "wharfctl-completion")
        for (shell, marker) in [("bash", "-F _wharfctl wharfctl"), ("zsh", "#compdef wharfctl"), ("fish", "complete -c 'wharfctl'")] {
            let result = try await Self.wharfctl(["completion", shell], gateway: nil, folder: folder)
            #expect(result.status == 0 && result.stdout.contains(marker), "\(shell): \(result.stdout.prefix(200))")
            for command in ["record", "routing", "blob", "sync", "backrest", "negentropy"] {
                #expect(result.stdout.contains(command), "\(shell) completion lacks \(command)")
            }
        }
        let unknown = try await Self.wharfctl(["completion", "tcsh"], gateway: nil, folder: folder)
        #expect(unknown.status == 64, "\(unknown.stderr)")
    }
}
