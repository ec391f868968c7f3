import NegentropyCore
import Testing
import WharfRuntime

/// A peer is dialled at the address the allow list checked, not by its name resolved again (a name that
/// answers a public address to the check and an internal one to the dial must not get through).
@Suite("negentropy: peers are dialled at the checked address")
struct PeerDialTargetTests {
    @Test("ws:// peers get the checked address in place of their name (path and port kept); wss:// peers keep their name for TLS")
    func dialTargets() async throws {
        let list = try OutboundAllowList(parsing: "localhost, 127.0.0.1", variable: "WHARF_NEGENTROPY_ALLOWED_PEERS")
        let plain = try await PeerURL.dialTarget("ws://localhost:7777/relay?x=1", by: list).get()
        #expect(plain == "ws://127.0.0.1:7777/relay?x=1" || plain == "ws://[::1]:7777/relay?x=1", "\(plain)")
        let tls = try await PeerURL.dialTarget("wss://localhost/relay", by: list).get()
        #expect(tls == "wss://localhost/relay")
        // Without a scheme it is wss:// (ORLY's rule), and an internal address that is not listed is refused.
        let refused = await PeerURL.dialTarget("ws://10.0.0.1:7777", by: list)
        #expect(throws: PeerURLError.self) { try refused.get() }
    }
}
