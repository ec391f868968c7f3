import Foundation
import Testing
import WharfProto
import WharfTestSupport

extension ConsoleSystemSuites {
    @Suite("console: sign-in, sessions, and forms refused without their CSRF token, from another site or from a viewer", .serialized)
    struct ConsoleSignInTests {
        @Test(
            "pages need a session; a wrong token or a login form without its token is refused; the session cookie is HttpOnly and SameSite=Strict; a form without CSRF, from another origin or from a viewer changes nothing; sign-out ends the session"
        )
        func signIn() async throws {
            try await ConsoleFixture.run { fixture in
                let browser = fixture.browser()
                let anonymous = try await browser.get("/system")
                #expect(anonymous.status == 303 && anonymous.header("Location") == "/login")
                #expect(try await browser.get("/system.json").status == 401)

                let login = try await browser.get("/login")
                #expect(login.status == 200)
                let loginCookie = try #require(login.setCookies.first { $0.hasPrefix("wharf_console_login=") })
                #expect(loginCookie.contains("HttpOnly") && loginCookie.contains("SameSite=Strict") && !loginCookie.contains("Secure"))
                #expect(ConsoleHTTPClient.csrf(in: login.body) != nil)
                let withoutToken = try await browser.post("/login", [("token", TestCredentials.adminTokenText)])
                #expect(withoutToken.status == 403)
                #expect(withoutToken.setCookies.allSatisfy { !$0.hasPrefix("wharf_console=") })
                // Every sign-in form carries a new token bound to a new pre-sign-in cookie.
                let csrf = try #require(ConsoleHTTPClient.csrf(in: withoutToken.body))
                let wrong = try await browser.post("/login", [("csrf", csrf), ("token", TestCredentials.adminTokenText + "x")])
                #expect(wrong.status == 401)
                #expect(wrong.setCookies.allSatisfy { !$0.hasPrefix("wharf_console=") })

                let signedIn = try await browser.signIn(TestCredentials.adminTokenText)
                #expect(signedIn.status == 303 && signedIn.header("Location") == "/system")
                let session = try #require(signedIn.setCookies.first { $0.hasPrefix("wharf_console=") })
                #expect(session.contains("HttpOnly") && session.contains("SameSite=Strict"))
                let page = try await browser.get("/system")
                #expect(page.status == 200)
                #expect(page.body.contains("Sign out (admin)"))
                #expect(page.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
                #expect(page.header("X-Frame-Options") == "DENY")
                let token = try #require(ConsoleHTTPClient.csrf(in: page.body))

                let tokens = { () async throws -> Int in
                    try await fixture.withGatewayClient { client in
                        try await Wharf_Sync_V1_BackrestHub.Client(wrapping: client).listPairingTokens(.init()).tokens.count
                    }
                }
                let form: [(String, String)] = [("label", "x"), ("hours", "1"), ("uses", "1"), ("permission", "read-operations"), ("scope", "*")]
                let withoutCSRF = try await browser.post("/hosts/pairing-tokens", form)
                #expect(withoutCSRF.status == 403)
                #expect(withoutCSRF.body.contains("CSRF"))
                let forged = try await browser.post("/hosts/pairing-tokens", form + [("csrf", String(repeating: "0", count: 64))])
                #expect(forged.status == 403)
                let crossSite = try await browser.post("/hosts/pairing-tokens", form + [("csrf", token)], headers: ["Origin": "http://evil.example"])
                #expect(crossSite.status == 403)
                #expect(try await tokens() == 0)
                let sameSite = try await browser.post(
                    "/hosts/pairing-tokens", form + [("csrf", token)], headers: ["Origin": "http://127.0.0.1:\(fixture.consolePort)"])
                #expect(sameSite.status == 200)
                #expect(sameSite.body.contains("id=\"created-token\""))
                #expect(try await tokens() == 1)

                // A viewer reads every page but changes nothing, even with its own valid CSRF token.
                let viewer = fixture.browser()
                try await viewer.signIn(ConsoleFixture.viewerToken)
                let viewerPage = try await viewer.get("/hosts")
                #expect(viewerPage.status == 200 && viewerPage.body.contains("Sign out (viewer)"))
                #expect(!viewerPage.body.contains("id=\"create-token\""))
                let viewerCSRF = try #require(ConsoleHTTPClient.csrf(in: viewerPage.body))
                let refused = try await viewer.post("/hosts/pairing-tokens", form + [("csrf", viewerCSRF)])
                #expect(refused.status == 403)
                #expect(try await tokens() == 1)
                // The admin's CSRF token is not the viewer's.
                #expect(try await viewer.post("/hosts/pairing-tokens", form + [("csrf", token)]).status == 403)

                let signedOut = try await browser.post("/logout", [("csrf", token)])
                #expect(signedOut.status == 303 && signedOut.header("Location") == "/login")
                #expect(try await browser.get("/system").status == 303)
            }
        }
    }
}
