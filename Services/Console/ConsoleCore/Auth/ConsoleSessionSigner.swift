import Crypto
import Foundation
import WharfEncoding
import WharfRuntime

/// A signed-in session, as its cookie carries it.
public struct ConsoleSession: Sendable, Equatable {
    public var role: ConsoleRole
    /// Unix seconds.
    public var expiresAt: Int64
    /// 32 hex digits: what the session's CSRF token is derived from.
    public var nonce: String
}

/// Sessions without server state: the cookie is `v1.<role>.<expiry>.<nonce>.<HMAC-SHA256>` under a key derived
/// from the admin and viewer tokens, so any console replica accepts it, and changing either token ends every
/// session at once (a session ends when the credential that opened it is gone). No I/O: tested on its own.
public struct ConsoleSessionSigner: Sendable {
    public static let cookieName = "wharf_console"
    /// The pre-sign-in cookie the login form's CSRF token is bound to.
    public static let loginCookieName = "wharf_console_login"

    private let adminToken: WharfRuntime.SharedSecret?
    private let viewerToken: WharfRuntime.SharedSecret?
    private let key: SymmetricKey
    public let lifetime: Int64

    /// `lifetime` in seconds (12 hours by default).
    public init(adminToken: WharfRuntime.SharedSecret?, viewerToken: WharfRuntime.SharedSecret?, lifetime: Int64 = 12 * 3600) {
        self.adminToken = adminToken
        self.viewerToken = viewerToken
        self.lifetime = max(60, lifetime)
        var material = Array("wharf-console-session-v1".utf8)
        for token in [adminToken, viewerToken] {
            let bytes = token?.utf8 ?? []
            material += withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init) + bytes
        }
        key = SymmetricKey(data: SHA256.hash(data: material))
    }

    /// The role `presented` signs in as: compared with both tokens over their full lengths, in constant time.
    public func role(forToken presented: String) -> ConsoleRole? {
        let bytes = Array(presented.utf8)
        let isAdmin = adminToken.map { ConstantTime.equal($0.utf8, bytes) } ?? false
        let isViewer = viewerToken.map { ConstantTime.equal($0.utf8, bytes) } ?? false
        if isAdmin { return .admin }
        if isViewer { return .viewer }
        return nil
    }

    /// Whether anyone can sign in at all (a console without an admin token can do nothing).
    public var canSignIn: Bool { adminToken != nil }

    public func issue(role: ConsoleRole, now: Int64) -> (cookie: String, session: ConsoleSession) {
        let (sum, overflow) = now.addingReportingOverflow(lifetime)
        let session = ConsoleSession(role: role, expiresAt: overflow ? Int64.max : sum, nonce: Self.nonce())
        let body = "v1.\(role.rawValue).\(session.expiresAt).\(session.nonce)"
        return (body + "." + mac(body), session)
    }

    /// The session `cookie` carries, when its signature is this console's and it has not expired.
    public func verify(_ cookie: String, now: Int64) -> ConsoleSession? {
        guard cookie.utf8.count <= 256 else { return nil }
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v1" else { return nil }
        let body = parts[0..<4].joined(separator: ".")
        guard ConstantTime.equal(Array(mac(body).utf8), Array(parts[4].utf8)) else { return nil }
        guard let role = ConsoleRole(rawValue: String(parts[1])), let expiresAt = Int64(parts[2]), now < expiresAt else { return nil }
        return ConsoleSession(role: role, expiresAt: expiresAt, nonce: String(parts[3]))
    }

    /// The token every form of `session` carries.
    public func csrfToken(for session: ConsoleSession) -> String { mac("csrf." + session.nonce) }

    /// The login form's token, bound to the pre-sign-in cookie's nonce.
    public func loginToken(forNonce nonce: String) -> String { mac("login." + nonce) }

    public func checkCSRF(_ presented: String, session: ConsoleSession) -> Bool {
        ConstantTime.equal(Array(csrfToken(for: session).utf8), Array(presented.utf8))
    }

    public func checkLoginToken(_ presented: String, nonce: String) -> Bool {
        !nonce.isEmpty && nonce.utf8.count <= 64 && ConstantTime.equal(Array(loginToken(forNonce: nonce).utf8), Array(presented.utf8))
    }

    private func mac(_ text: String) -> String {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)).hexString
    }

    public static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }
}
