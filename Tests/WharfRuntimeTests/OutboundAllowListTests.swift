import Testing
import WharfRuntime

@Suite("Outbound allow lists and shared secrets")
struct OutboundAllowListTests {
    private func address(_ text: String) throws -> IPAddressBytes {
        try #require(IPAddressBytes(literal: text))
    }

    @Test("an empty list allows public addresses and refuses loopback, private, link-local and the rest, naming the variable")
    func emptyList() throws {
        let list = try OutboundAllowList(parsing: "", variable: "WHARF_X_ALLOWED")
        #expect(list.refusal(host: "relay.example.org", addresses: [try address("93.184.216.34")]) == nil)
        #expect(list.refusal(host: "v6.example.org", addresses: [try address("2606:2800:220:1::1")]) == nil)
        for (literal, kind) in [
            ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.20.0.1", "private"), ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"), ("100.64.0.1", "carrier-grade"), ("0.0.0.0", "unspecified"),
            ("::1", "loopback"), ("fe80::1", "link-local"), ("fd00::1", "unique local"), ("::ffff:127.0.0.1", "loopback"),
            ("224.0.0.1", "multicast"), ("64:ff9b::7f00:1", "NAT64"), ("64:ff9b:1::a00:1", "NAT64"),
            ("2002:7f00:1::1", "6to4"), ("2001:0:4136:e378::1", "Teredo"), ("::7f00:1", "IPv4-compatible"),
        ] {
            let refusal = list.refusal(host: literal, addresses: [try address(literal)])
            #expect(refusal?.contains(kind) == true && refusal?.contains("WHARF_X_ALLOWED") == true, "\(literal): \(refusal ?? "allowed")")
        }
        // A public name that resolves to an internal address (DNS rebinding) is refused as that address.
        #expect(list.refusal(host: "evil.example.org", addresses: [try address("93.184.216.34"), try address("127.0.0.1")]) != nil)
        #expect(list.refusal(host: "nowhere.example.org", addresses: []) != nil)
        #expect(list.refusal(host: "nowhere.example.org", addresses: [], dialling: false) == nil)
    }

    @Test("listed hosts, domains, addresses and networks allow internal addresses; * allows public ones only")
    func patterns() throws {
        let list = try OutboundAllowList(parsing: "localhost, *.corp.example, 10.1.0.0/16, [::1], 192.0.2.7", variable: "V")
        #expect(list.refusal(host: "localhost", addresses: [try address("127.0.0.1")]) == nil)
        #expect(list.refusal(host: "db.corp.example", addresses: [try address("10.9.9.9")]) == nil)
        #expect(list.refusal(host: "10.1.200.3", addresses: [try address("10.1.200.3")]) == nil)
        #expect(list.refusal(host: "10.2.0.1", addresses: [try address("10.2.0.1")])?.contains("private") == true)
        #expect(list.refusal(host: "[::1]", addresses: [try address("::1")]) == nil)
        #expect(list.refusal(host: "192.0.2.7", addresses: [try address("192.0.2.7")]) == nil)
        // Not listed and no `*`: a public host is refused too.
        #expect(list.refusal(host: "relay.example.org", addresses: [try address("93.184.216.34")])?.contains("not allowed by V") == true)
        #expect(list.refusal(host: "relay.example.org", addresses: [], dialling: false) != nil)

        let open = try OutboundAllowList(parsing: "*", variable: "V")
        #expect(open.refusal(host: "relay.example.org", addresses: [try address("93.184.216.34")]) == nil)
        #expect(open.refusal(host: "127.0.0.1", addresses: [try address("127.0.0.1")]) != nil)
    }

    @Test("malformed patterns are configuration problems")
    func malformed() {
        for text in ["10.0.0.0/33", "host name", "ex@mple.org", "10.0.0.0/x", "/8"] {
            #expect(throws: ConfigurationProblem.self, "\(text)") { try OutboundAllowList(parsing: text, variable: "V") }
        }
    }

    @Test("shared secrets: at least 16 printable characters, compared whole")
    func secrets() throws {
        #expect(SharedSecret("short") == nil)
        #expect(SharedSecret("has a space in it, long enough") == nil)
        #expect(SharedSecret(String(repeating: "x", count: 1025)) == nil)
        let secret = try #require(SharedSecret("0123456789abcdef"))
        #expect(secret.matches("0123456789abcdef"))
        #expect(!secret.matches("0123456789abcdeF"))
        #expect(!secret.matches("0123456789abcdef0"))
        #expect(!secret.matches("0123456789abcde"))
        #expect(!secret.matches(""))
        #expect("\(secret)" == "***")
    }

    @Test("secrets compare over both full lengths: the token with 256 more bytes, a prefix, one byte changed and the empty string are refused")
    func constantTimeComparison() throws {
        let text = "wharf-test-admin-token-2f6c1e0b"
        let secret = try #require(SharedSecret(text))
        #expect(secret.matches(text))
        for other in [
            text + String(repeating: "x", count: 256), text + String(repeating: "x", count: 512), String(text.dropLast()), "",
            String(text.dropLast()) + "c", text + "x",
        ] {
            #expect(!secret.matches(other), "\(other.prefix(40))… (\(other.utf8.count) bytes) matched")
        }
        #expect(ConstantTime.equal([UInt8](), [UInt8]()))
        #expect(!ConstantTime.equal([UInt8](repeating: 0, count: 256), [UInt8]()))
        #expect(ConstantTime.matchesAny(Array("b".utf8), of: [Array("a".utf8), Array("b".utf8)]))
        #expect(!ConstantTime.matchesAny(Array("c".utf8), of: [Array("a".utf8), Array("b".utf8)]))
    }

    @Test("the addresses checked are the ones returned for dialling; a refused host returns the refusal")
    func checkedAddresses() async throws {
        let list = try OutboundAllowList(parsing: "127.0.0.1", variable: "V")
        let allowed = await list.checkedAddresses(host: "127.0.0.1")
        #expect((try? allowed.get()) == [try address("127.0.0.1")])
        let refused = await list.checkedAddresses(host: "10.0.0.1")
        #expect(throws: OutboundRefusal.self) { try refused.get() }
    }
}
