import ConsoleCore
import Testing
import WharfRuntime

@Suite("console sessions: signed cookies, roles, CSRF tokens")
struct ConsoleSessionSignerTests {
    let admin = SharedSecret("admin-token-0123456789abcdef")
    let viewer = SharedSecret("viewer-token-0123456789abcdef")

    @Test("the admin and viewer tokens sign in with their roles; anything else (a prefix, a longer text, empty) does not")
    func roles() throws {
        let signer = ConsoleSessionSigner(adminToken: admin, viewerToken: viewer)
        #expect(signer.role(forToken: "admin-token-0123456789abcdef") == .admin)
        #expect(signer.role(forToken: "viewer-token-0123456789abcdef") == .viewer)
        for wrong in ["", "admin-token-0123456789abcde", "admin-token-0123456789abcdefX", "viewer", String(repeating: "a", count: 100_000)] {
            #expect(signer.role(forToken: wrong) == nil)
        }
        let noViewer = ConsoleSessionSigner(adminToken: admin, viewerToken: nil)
        #expect(noViewer.role(forToken: "viewer-token-0123456789abcdef") == nil)
        #expect(ConsoleSessionSigner(adminToken: nil, viewerToken: nil).canSignIn == false)
    }

    @Test("a cookie verifies until it expires; one changed byte, another console's key or a changed token refuses it")
    func cookies() throws {
        let signer = ConsoleSessionSigner(adminToken: admin, viewerToken: viewer, lifetime: 3600)
        let (cookie, session) = signer.issue(role: .viewer, now: 1_000)
        #expect(signer.verify(cookie, now: 1_001) == session)
        #expect(signer.verify(cookie, now: 4_599)?.role == .viewer)
        #expect(signer.verify(cookie, now: 4_600) == nil)
        // A role raised by hand breaks the signature.
        #expect(signer.verify(cookie.replacingOccurrences(of: ".viewer.", with: ".admin."), now: 1_001) == nil)
        #expect(signer.verify(String(cookie.dropLast()) + (cookie.hasSuffix("0") ? "1" : "0"), now: 1_001) == nil)
        // Rotating either token ends every session.
        let rotated = ConsoleSessionSigner(adminToken: SharedSecret("admin-token-rotated-0123456789"), viewerToken: viewer)
        #expect(rotated.verify(cookie, now: 1_001) == nil)
        let viewerRotated = ConsoleSessionSigner(adminToken: admin, viewerToken: SharedSecret("viewer-token-rotated-0123456"))
        #expect(viewerRotated.verify(cookie, now: 1_001) == nil)
        for hostile in ["", "v1", "v1.admin.99999999999999999999.x.y", String(repeating: ".", count: 300), "v1.admin.-1.aa.bb"] {
            #expect(signer.verify(hostile, now: 0) == nil)
        }
        // An expiry at the end of Int64 does not trap.
        let far = signer.issue(role: .admin, now: Int64.max - 10)
        #expect(far.session.expiresAt == Int64.max)
    }

    @Test("CSRF tokens belong to one session; the login form's token to its pre-sign-in cookie")
    func csrf() throws {
        let signer = ConsoleSessionSigner(adminToken: admin, viewerToken: viewer)
        let first = signer.issue(role: .admin, now: 0).session
        let second = signer.issue(role: .admin, now: 0).session
        #expect(signer.checkCSRF(signer.csrfToken(for: first), session: first))
        #expect(!signer.checkCSRF(signer.csrfToken(for: second), session: first))
        #expect(!signer.checkCSRF("", session: first))
        let nonce = ConsoleSessionSigner.nonce()
        #expect(signer.checkLoginToken(signer.loginToken(forNonce: nonce), nonce: nonce))
        #expect(!signer.checkLoginToken(signer.loginToken(forNonce: nonce), nonce: ConsoleSessionSigner.nonce()))
        #expect(!signer.checkLoginToken(signer.loginToken(forNonce: ""), nonce: ""))
    }
}
