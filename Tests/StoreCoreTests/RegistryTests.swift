import Crypto
import Foundation
import GRPCCore
import RecordIdentity
import StoreCore
import Testing
import WharfEncoding
import WharfProto
import WharfRuntime
import WharfTestSupport

/// The store's read-only OCI registry, checked with a real OCI client from Debian (skopeo) and raw HTTP.
@Suite("The store's OCI registry (skopeo, credentials)")
struct RegistryTests {
    @Test("skopeo lists tags, inspects and copies records with issued credentials; anonymous, revoked and expired ones get 401")
    func skopeoAgainstTheRegistry() async throws {
        let skopeo = try #require(findSkopeo(), "skopeo is not installed (scripts/wharf test installs it)")
        let registryPort = try freePort()
        try await withServices([.store(environment: ["WHARF_STORE_OCI_LISTEN": "127.0.0.1:\(registryPort)"])]) { services in
            let port = services.port("store")
            let registry = "127.0.0.1:\(registryPort)"
            try await withTestClient(port: port, admin: true) { client in
                let cids = try await client.pushRecords(
                    (0..<3).map { labelledRecord("oci-\($0)", skills: ["oci/skill"], locators: ["docker_image"]) })
                let credentials = Wharf_Store_V1_RegistryCredentials.Client(wrapping: client)
                let issued = try await credentials.issue(
                    .with {
                        $0.nodeID = "node-b"; $0.ttlSeconds = 600
                    })
                #expect(issued.registryAddress == registry)
                #expect(issued.expiresAt > Int64(Date().timeIntervalSince1970) + 500)
                let creds = "\(issued.username):\(issued.password)"

                // Anonymous and wrong credentials: 401 with WWW-Authenticate and the spec's error code.
                let anonymous = try await httpGet("http://\(registry)/v2/")
                #expect(anonymous.status == 401)
                #expect(anonymous.headers["Www-Authenticate"]?.hasPrefix("Basic") == true, "\(anonymous.headers)")
                #expect(anonymous.body.contains("\"code\":\"UNAUTHORIZED\""), "\(anonymous.body)")
                #expect(try await httpGet("http://\(registry)/v2/", basic: "\(issued.username):wrong").status == 401)

                // Tags: every CID, in order, paginated with Link.
                let listed = try await runTool(skopeo, ["list-tags", "--tls-verify=false", "--creds", creds, "docker://\(registry)/dir"])
                #expect(listed.status == 0, "\(listed.output)")
                let tags = ((try? JSONSerialization.jsonObject(with: Data(listed.output.utf8))) as? [String: Any])?["Tags"] as? [String]
                #expect(tags == cids.sorted(), "\(listed.output)")
                let page = try await httpGet("http://\(registry)/v2/dir/tags/list?n=2", basic: creds)
                #expect(page.status == 200)
                #expect(page.headers["Link"] == "</v2/dir/tags/list?n=2&last=\(cids.sorted()[1])>; rel=\"next\"", "\(page.headers)")

                // The manifest: deterministic, its layer the canonical JSON under the CID's digest.
                let cid = cids[0]
                let raw = try await runTool(skopeo, ["inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://\(registry)/dir:\(cid)"])
                #expect(raw.status == 0, "\(raw.output)")
                let again = try await runTool(
                    skopeo, ["inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://\(registry)/dir:\(cid)"])
                #expect(raw.output == again.output)
                let manifest = try #require((try? JSONSerialization.jsonObject(with: Data(raw.output.utf8))) as? [String: Any])
                let layers = try #require(manifest["layers"] as? [[String: Any]])
                let layerDigest = "sha256:" + (RecordCID.digest(of: cid)?.hexString ?? "?")
                #expect(layers.first?["digest"] as? String == layerDigest)
                #expect(layers.first?["mediaType"] as? String == "application/json")
                #expect((manifest["annotations"] as? [String: String])?["org.agntcy.dir/cid"] == cid)
                let manifestDigest = "sha256:" + sha256Hex(Array(raw.output.utf8))
                let byDigest = try await runTool(
                    skopeo, ["inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://\(registry)/dir@\(manifestDigest)"])
                #expect(byDigest.status == 0 && byDigest.output == raw.output, "\(byDigest.output)")

                // A copy to a local folder holds the record's canonical JSON.
                let folder = try TemporaryDirectories.make(prefix: "skopeo")
                let copied = try await runTool(
                    skopeo,
                    [
                        "copy", "--src-tls-verify=false", "--src-creds", creds,
                        "docker://\(registry)/dir:\(cid)", "dir:\(folder)/copy",
                    ])
                #expect(copied.status == 0, "\(copied.output)")
                let layerFile = "\(folder)/copy/\(layerDigest.dropFirst(7))"
                let layer = try #require(FileManager.default.contents(atPath: layerFile), "no layer file in the copy")
                #expect(RecordCID.of(canonicalJSON: layer) == cid)

                // Errors use the distribution spec's codes.
                let unknownManifest = try await httpGet("http://\(registry)/v2/dir/manifests/baeareinothere", basic: creds)
                #expect(unknownManifest.status == 404 && unknownManifest.body.contains("MANIFEST_UNKNOWN"), "\(unknownManifest.body)")
                let unknownBlob = try await httpGet("http://\(registry)/v2/dir/blobs/sha256:\(String(repeating: "0", count: 64))", basic: creds)
                #expect(unknownBlob.status == 404 && unknownBlob.body.contains("BLOB_UNKNOWN"), "\(unknownBlob.body)")
                let otherRepository = try await httpGet("http://\(registry)/v2/other/tags/list", basic: creds)
                #expect(otherRepository.status == 404 && otherRepository.body.contains("NAME_UNKNOWN"), "\(otherRepository.body)")

                // Revoked: refused from then on. Expired: refused after the TTL.
                let revoked = try await credentials.revoke(.with { $0.nodeID = "node-b" })
                #expect(revoked.revoked == 1)
                #expect(try await httpGet("http://\(registry)/v2/", basic: creds).status == 401)
                let refused = try await runTool(skopeo, ["list-tags", "--tls-verify=false", "--creds", creds, "docker://\(registry)/dir"])
                #expect(refused.status != 0)
                // Judged against the credential's own expiry, not a guess of how long a loaded machine takes.
                let brief = try await credentials.issue(
                    .with {
                        $0.nodeID = "node-c"; $0.ttlSeconds = 4
                    })
                let briefCreds = "\(brief.username):\(brief.password)"
                let expiry = Date(timeIntervalSince1970: TimeInterval(brief.expiresAt))
                let beforeExpiry = try await httpGet("http://\(registry)/v2/", basic: briefCreds).status
                if Date() < expiry.addingTimeInterval(-1) { #expect(beforeExpiry == 200) }
                let untilExpired = expiry.addingTimeInterval(1.1).timeIntervalSinceNow
                if untilExpired > 0 { try await Task.sleep(for: .seconds(untilExpired)) }
                #expect(try await httpGet("http://\(registry)/v2/", basic: briefCreds).status == 401)
            }
            // Issuing and revoking are administrative.
            try await withTestClient(port: port) { client in
                let error = await #expect(throws: RPCError.self) {
                    _ = try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: client).issue(.with { $0.nodeID = "intruder" })
                }
                #expect(error?.code == .unauthenticated)
            }
        }
    }
}

private func findSkopeo() -> String? {
    ["/usr/bin/skopeo", "/usr/local/bin/skopeo"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

private func runTool(_ path: String, _ arguments: [String]) async throws -> (status: Int32?, output: String) {
    try await runExecutable(path, arguments, environment: ["HOME": FileManager.default.temporaryDirectory.path], timeout: .seconds(60))
}

private func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).hexString
}
