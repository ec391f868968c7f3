import ArgumentParser
import BLAKE3
import Foundation
import GRPCCore
import Testing
import WharfProto

@testable import wharfctl

/// wharfctl's checks of what a person typed: refused with exit code 78 (or ArgumentParser's usage error)
/// before anything is dialled.
@Suite("wharfctl arguments")
struct ArgumentTests {
    @Test("gateway options: address, timeout and CA file are checked; TLS only when asked for")
    func gatewayOptions() throws {
        let options = try GatewayOptions.parse(["--address", "gateway.example:50050", "--timeout", "2.5"])
        #expect(try options.target().host == "gateway.example")
        #expect(try options.target().port == 50050)
        #expect(try options.callOptions().timeout == .milliseconds(2_500))

        for (arguments, problem) in [
            (["--address", "no-port"], "--address"),
            (["--address", "host:99999"], "--address"),
        ] {
            let parsed = try GatewayOptions.parse(arguments)
            #expect(throws: CommandFailure.self) { try parsed.target() }
            do { _ = try parsed.target() } catch let failure as CommandFailure { #expect(failure.line.contains(problem)) }
        }
        for timeout in ["0", "-1", "86401", "nan", "inf"] {
            let parsed = try GatewayOptions.parse(["--timeout=\(timeout)"])
            let failure = #expect(throws: CommandFailure.self) { try parsed.callOptions() }
            #expect(failure?.exitCode == 78, "\(timeout)")
        }
        let missing = try GatewayOptions.parse(["--ca-file", "/nonexistent/ca.pem"])
        let failure = #expect(throws: CommandFailure.self) { try missing.security() }
        #expect(failure?.line == "wharfctl: --ca-file: /nonexistent/ca.pem cannot be read")
        #expect(throws: (any Error).self) { try GatewayOptions.parse(["--output", "yaml"]) }
    }

    @Test("blob digests in tvix's, snix's and hex form name the same digest; anything else is refused")
    func digests() throws {
        let digest = try #require(BlobDigest(Data((0..<32).map { UInt8($0) })))
        #expect(try BlobDigestText.parse(digest.tvixText) == digest)
        #expect(try BlobDigestText.parse("blake3-" + Data(digest.bytes).base64EncodedString()) == digest)
        #expect(try BlobDigestText.parse(digest.hex) == digest)
        for text in [
            "", "b3:", "b3:AAAA", String(repeating: "z", count: 64), String(repeating: "0", count: 66),
            "blake3-" + String(repeating: "/", count: 1 << 20),
        ] {
            let failure = #expect(throws: CommandFailure.self) { try BlobDigestText.parse(text) }
            #expect(failure?.exitCode == 78)
        }
    }

    @Test("topology: the port offset is bounded; routing queries and sync statuses print as upstream names them")
    func topologyAndNames() throws {
        #expect(throws: (any Error).self) { try WharfCtl.parseAsRoot(["topology", "routes", "--port-offset", "10001"]) }
        #expect(throws: (any Error).self) { try WharfCtl.parseAsRoot(["topology", "ports", "--port-offset", "-1"]) }
        #expect(throws: (any Error).self) { try WharfCtl.parseAsRoot(["topology", "ports", "--port-offset", "99999999999999999999999"]) }
        _ = try WharfCtl.parseAsRoot(["topology", "routes", "--port-offset", "100"])

        let queries = try Routing.Queries.parse(["--skill", "NLP/Text Completion", "--locator", "docker-image", "--skill", "x"])
        #expect(queries.queries.map(Routing.Queries.text) == ["skill=NLP/Text Completion", "skill=x", "locator=docker-image"])
        #expect(SyncStatusText.name(of: .inProgress) == "SYNC_STATUS_IN_PROGRESS")
        #expect(SyncStatusText.name(of: .unspecified) == "SYNC_STATUS_UNSPECIFIED")
        #expect(SyncStatusText.name(of: .UNRECOGNIZED(42)) == "42")
    }
}
