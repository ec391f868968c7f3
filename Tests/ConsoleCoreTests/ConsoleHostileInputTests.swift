import Foundation
import Testing
import WharfTestSupport

@testable import ConsoleCore

extension ConsoleSystemSuites {
    @Suite("console: hostile requests get a clear answer and change nothing", .serialized)
    struct ConsoleHostileInputTests {
        @Test(
            "an oversized form is 413, a forged or huge cookie is no session, invalid percent-encoding and extreme filters are refused or ignored, a 1 MiB record id is no record; sign-in attempts beyond ten from one address are 429; the console answers throughout"
        )
        func hostileRequests() async throws {
            try await ConsoleFixture.runSignedIn { fixture, browser in
                let page = try await browser.get("/hosts")
                let csrf = try #require(ConsoleHTTPClient.csrf(in: page.body))

                let huge = try await browser.post(
                    "/hosts/pairing-tokens", [("csrf", csrf), ("label", String(repeating: "x", count: 2 << 20))])
                #expect(huge.status == 413)
                let invalid = try await browser.post("/hosts/pairing-tokens", [("csrf", csrf), ("label", "\u{FFFD}")], headers: [:])
                #expect(invalid.status == 400)  // no permission chosen: the page says so
                let label = try await browser.post(
                    "/hosts/pairing-tokens",
                    [("csrf", csrf), ("label", String(repeating: "é", count: 300)), ("hours", "1"), ("uses", "1"), ("permission", "read-operations")])
                #expect(label.status == 400 && label.body.contains("Label: at most 200 bytes"))
                for (hours, uses) in [("0", "1"), ("99999999999999999999", "1"), ("1", "-5"), ("1", "1001"), ("NaN", "1")] {
                    let refused = try await browser.post(
                        "/hosts/pairing-tokens", [("csrf", csrf), ("hours", hours), ("uses", uses), ("permission", "read-operations")])
                    #expect(refused.status == 400, "\(hours) \(uses): \(refused.status)")
                }
                let unknownPermission = try await browser.post(
                    "/hosts/pairing-tokens", [("csrf", csrf), ("hours", "1"), ("uses", "1"), ("permission", "root")])
                #expect(unknownPermission.status == 400 && unknownPermission.body.contains("is not one of"))

                // Invalid percent-encoding in the CSRF field: no token, refused.
                let garbled = try await browser.send(raw: "csrf=%FF%FE%&label=%ZZ", to: "/hosts/pairing-tokens")
                #expect(garbled.status == 403)

                // Filters at their extremes: the page renders (the hub is asked only with bounded values).
                let longHost = String(repeating: "h", count: 60_000)
                let filtered = try await browser.get("/hosts?host=\(longHost)&plan=%00%01&status=%FF")
                #expect(filtered.status == 200 || filtered.status == 414, "\(filtered.status)")
                let search = try await browser.get("/records?q=" + String(repeating: "skill%3Aa%20", count: 3000))
                #expect(search.status == 200 || search.status == 414)
                let longCID = try await browser.get("/records/" + String(repeating: "b", count: 1 << 16))
                #expect([200, 414].contains(longCID.status))
                if longCID.status == 200 { #expect(longCID.body.contains("No record named.")) }

                // A forged cookie, a cookie of 60 KB, a session cookie for another console: no session.
                for cookie in [
                    "v1.admin.99999999999.\(String(repeating: "a", count: 32)).\(String(repeating: "0", count: 64))",
                    String(repeating: "c", count: 60_000),
                ] {
                    let forged = fixture.browser()
                    let answer = try await forged.get("/system", headers: ["Cookie": "wharf_console=\(cookie)"])
                    #expect(answer.status == 303 || answer.status == 431, "\(answer.status)")
                }
                // Ten sign-in attempts from one address, then ten a minute (one every 6 s); a session already open is not
                // affected. The admin's own sign-in above was the first attempt: 9 more are answered 401 at once, then
                // only those a refill allows (the loop's own duration decides how many: counted, not assumed).
                let stranger = fixture.browser()
                let clock = ContinuousClock()
                let started = clock.now
                var statuses: [Int] = []
                for attempt in 1...20 { statuses.append(try await stranger.signIn("wrong-token-\(attempt)-0123456789").status) }
                let refills = Int((clock.now - started).components.seconds / 6) + 1
                #expect(Set(statuses).isSubset(of: [401, 429]), "\(statuses)")
                #expect(statuses.prefix(9).allSatisfy { $0 == 401 }, "\(statuses)")
                #expect(statuses.filter { $0 == 401 }.count <= 9 + refills, "\(statuses) in \(clock.now - started)")
                #expect(statuses.contains(429), "\(statuses)")
                #expect(try await browser.get("/system").status == 200)
            }
        }

        @Test(
            "charts escape what services report (a plan or host named like markup stays text); form fields decode '+' and %XX and drop undecodable ones"
        )
        func escaping() {
            let svg = BackupTimeline.svg([
                .init(row: "<script>alert(1)</script> · \"daily\"", startMilliseconds: 1_000, status: "error\"/><script>", label: "a & <b>")
            ])
            #expect(!svg.contains("<script>") && svg.contains("&lt;script&gt;") && svg.contains("a &amp; &lt;b&gt;"))
            #expect(!svg.contains("error\"/>"))
            // Start times a backup host reported, at the ends of Int64: drawn, not trapped on.
            let extremes = BackupTimeline.svg([
                .init(row: "a", startMilliseconds: .min, status: "success", label: "min"),
                .init(row: "a", startMilliseconds: .max, status: "error", label: "max"),
            ])
            #expect(extremes.components(separatedBy: "<circle").count == 3)
            #expect(ConsoleText.count(3) == "3" && ConsoleText.count(.nan) == "–" && ConsoleText.count(1e300) == "1e+300")
            let sparkline = Sparkline.svg([1, .nan, .infinity, -3, 2], label: "<x>")
            #expect(sparkline.contains("&lt;x&gt;") && !sparkline.contains("nan") && !sparkline.contains("inf"))
            let fields = FormFields("a=1+2&b=%C3%A9&c=%FF&d&a=3&=x")
            #expect(fields["a"] == "3" && fields.all("a") == ["1 2", "3"])
            #expect(fields["b"] == "é" && fields["c"] == nil && fields["d"] == "")
            #expect(ConsoleText.reason(TestSupportError(String(repeating: "x", count: 10_000))).count <= 300)
            // A form's Origin: the request's own host, or the configured public origin behind a proxy that changes Host.
            #expect(ConsoleServer.allowed(origin: "http://127.0.0.1:8088", host: "127.0.0.1:8088", publicOrigin: nil))
            #expect(!ConsoleServer.allowed(origin: "http://evil.example", host: "127.0.0.1:8088", publicOrigin: nil))
            #expect(!ConsoleServer.allowed(origin: "null", host: "127.0.0.1:8088", publicOrigin: nil))
            #expect(ConsoleServer.allowed(origin: "https://Console.Example.org", host: "console:8088", publicOrigin: "https://console.example.org"))
            #expect(!ConsoleServer.allowed(origin: "http://console:8088", host: "console:8088", publicOrigin: "https://console.example.org"))
            #expect(ConsoleText.duration(milliseconds: Int64.max) != "" && ConsoleText.bytes(Int64.min) != "")
        }
    }
}
