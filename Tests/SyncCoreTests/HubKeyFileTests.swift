import Foundation
import Testing
import WharfRuntime
import WharfTestSupport

@testable import SyncCore

@Suite("the hub's key files: the ed25519 one beside the P-256 one, made once with mode 0600, read back as it was")
struct HubKeyFileTests {
    @Test("the ed25519 key file's default sits beside WHARF_BACKREST_KEY_FILE")
    func besideKeyFile() {
        #expect(BackrestSettings.besideKeyFile("/var/run/wharf/backrest/key.pem") == "/var/run/wharf/backrest/key-ed25519.pem")
        #expect(BackrestSettings.besideKeyFile("backrest-hub-key.pem") == "backrest-hub-key-ed25519.pem")
        #expect(BackrestSettings.besideKeyFile("/state/hubkey") == "/state/hubkey-ed25519.pem")
        let settings = BackrestSettings(reader: EnvironmentReader(environment: ["WHARF_BACKREST_KEY_FILE": "/keys/p256.pem"]))
        #expect(settings.ed25519KeyFile == "/keys/p256-ed25519.pem")
    }

    @Test("made once with mode 0600 and read back with the same keyid; an openssl-made PKCS#8 key is read; a P-256 key in its place is refused")
    func madeOnceAndReadBack() async throws {
        let folder = try TemporaryDirectories.make(prefix: "hub-keys")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let settings = BackrestSettings(reader: EnvironmentReader(environment: ["WHARF_BACKREST_KEY_FILE": "\(folder)/sub/key.pem"]))
        let made = try settings.loadOrCreateEd25519Identity()
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(folder)/sub/key-ed25519.pem")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try settings.loadOrCreateEd25519Identity().keyid == made.keyid)
        #expect(made.keyid.hasPrefix("ed25519.") && made.keyid.utf8.count == 51)

        let generated = try await runExecutable(
            "/bin/sh", ["-c", "openssl genpkey -algorithm ed25519 -out '\(folder)/openssl.pem' && cat '\(folder)/openssl.pem'"], environment: [:])
        #expect(generated.status == 0, "\(generated.output)")
        let fromOpenSSL = try BackrestEd25519Identity(pem: generated.output)
        #expect(try BackrestEd25519Identity(pem: fromOpenSSL.privatePEM).keyid == fromOpenSSL.keyid)

        try BackrestIdentity.generate().privatePEM.write(toFile: "\(folder)/wrong.pem", atomically: true, encoding: .utf8)
        let wrong = BackrestSettings(
            reader: EnvironmentReader(environment: [
                "WHARF_BACKREST_KEY_FILE": "\(folder)/x.pem", "WHARF_BACKREST_ED25519_KEY_FILE": "\(folder)/wrong.pem",
            ]))
        #expect(throws: ConfigurationProblem.self) { try wrong.loadOrCreateEd25519Identity() }
    }
}
