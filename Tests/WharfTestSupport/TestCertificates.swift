import Foundation

/// A self-signed certificate for localhost and 127.0.0.1 (one day, P-256), made by Debian's openssl in a
/// temporary folder removed when the test process ends.
public enum TestCertificates {
    public static func selfSigned() async throws -> (certificate: String, key: String) {
        let folder = try TemporaryDirectories.make(prefix: "tls")
        let certificate = "\(folder)/cert.pem", key = "\(folder)/key.pem"
        let made = try await runExecutable(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-keyout", key, "-out", certificate, "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ], environment: [:], timeout: .seconds(60))
        guard made.status == 0 else { throw TestSupportError("openssl could not make a certificate: \(made.output)") }
        return (certificate, key)
    }
}
