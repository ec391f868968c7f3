import Foundation
import Testing
import WharfTestSupport

extension RobustnessSuites {
    /// Configuration is input too: every executable given an invalid `WHARF_*` value exits with code 78 and a
    /// message naming the variable, never with a trap (huge numbers, infinite durations, bad URLs and hosts).
    @Suite("Robustness: invalid configuration", .serialized)
    struct ConfigurationAbuseTests {
        static let executables = ["store", "routing", "blob", "negentropy", "gateway"]

        /// Values every executable reads.
        static let shared: [(String, String)] = [
            ("WHARF_GRPC_MAX_MESSAGE_BYTES", "99999999999999999999999"),
            ("WHARF_GRPC_MAX_CONCURRENT_STREAMS", "0"),
            ("WHARF_SHUTDOWN_GRACE", "1e300s"),
            ("WHARF_SHUTDOWN_GRACE", "inf"),
            ("WHARF_SHUTDOWN_GRACE", "nan"),
            ("WHARF_SHUTDOWN_GRACE", "-5s"),
            ("WHARF_SHUTDOWN_GRACE", "9223372036854775807h"),
            ("WHARF_LISTEN", "127.0.0.1:99999"),
            ("WHARF_LISTEN", "[::1"),
            ("WHARF_LOG_LEVEL", "verbose"),
            ("WHARF_HTTP_IDLE_TIMEOUT", "50ms"),
        ]

        /// Values only some executables read.
        static let own: [(String, String, String)] = [
            ("store", "WHARF_POSTGRES_URL", "postgres://ü@[/x"),
            ("store", "WHARF_POSTGRES_URL", "postgres://wharf@127.0.0.1:999999/wharf"),
            ("store", "WHARF_REDIS_URL", "redis://127.0.0.1:-1/0"),
            ("store", "WHARF_JOB_MAX_ATTEMPTS", "0"),
            ("store", "WHARF_JOB_LEASE", "1e400ms"),
            ("routing", "WHARF_ROUTING_PEERS", "peer=no-port"),
            ("routing", "WHARF_ROUTING_MAX_QUERIES", "255"),
            ("routing", "WHARF_ROUTING_MAX_RESULTS", "-1"),
            ("routing", "WHARF_ROUTING_PEER_TIMEOUT", "99999999999999999999h"),
            ("blob", "WHARF_BLAKE3_KERNEL", "sse9"),
            ("blob", "WHARF_BLOB_MAX_BYTES", "18446744073709551616"),
            ("negentropy", "WHARF_NEGENTROPY_PEERS", "wss://ü"),
            ("negentropy", "WHARF_NEGENTROPY_PEERS", "ws://"),
            ("negentropy", "WHARF_NEGENTROPY_FILTER", "{\"limit\": 1e300}"),
            ("negentropy", "WHARF_RELAY_MAX_MESSAGE_SIZE", "1"),
            ("negentropy", "WHARF_NEGENTROPY_MAX_SESSIONS", "0"),
            ("negentropy", "WHARF_RELAY_TRUSTED_PROXIES", "proxy.example.org"),
            ("negentropy", "WHARF_RELAY_MAX_FILTER_VALUES", "0"),
            ("negentropy", "WHARF_RELAY_MAX_FUTURE", "1e400s"),
            ("negentropy", "WHARF_RELAY_SLOW_READER_TIMEOUT", "1ms"),
            ("negentropy", "WHARF_NEGENTROPY_FRONTEND_TOKEN", "short"),
            ("blob", "WHARF_BLOB_PUT_MAX_DURATION", "0s"),
            ("blob", "WHARF_BLOB_PUT_IDLE_TIMEOUT", "1ms"),
            ("gateway", "WHARF_GATEWAY_ROUTES", "garbage"),
            ("gateway", "WHARF_GATEWAY_HEALTH_INTERVAL", "1e30h"),
        ]

        @Test("every executable refuses every invalid value with exit code 78 and the variable's name")
        func invalidValuesExit78() async throws {
            var cases: [(String, String, String)] = []
            for executable in Self.executables {
                for (name, value) in Self.shared { cases.append((executable, name, value)) }
            }
            cases += Self.own
            let failures = FailureLog()
            await Robustness.forEach(cases, width: 4) { executable, name, value in
                do {
                    let run = try await runExecutable(try builtExecutable(executable), [], environment: [name: value], timeout: .seconds(30))
                    if run.status != 78 || !run.output.contains(name) {
                        failures.record(
                            "\(executable) \(name)=\(value): exit \(run.status.map(String.init) ?? "none (still running)"): \(run.output.suffix(300))"
                        )
                    }
                } catch {
                    failures.record("\(executable): \(error)")
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.joined(separator: "\n"))")
        }
    }
}
