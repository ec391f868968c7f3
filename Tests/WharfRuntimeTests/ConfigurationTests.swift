import Testing
import WharfRuntime
import WharfTestSupport

@Suite("Configuration from WHARF_* variables")
struct ConfigurationTests {
    func load(_ environment: [String: String]) throws(ConfigurationError) -> RuntimeConfiguration {
        try WharfServiceMain.loadConfiguration(
            service: "test", defaults: .init(grpcPort: 50051, metricsPort: 9101), environment: environment,
            settings: { _ in () }
        ).0
    }

    @Test("defaults apply when nothing is set")
    func defaults() throws {
        let configuration = try load([:])
        #expect(configuration.listen == HostPort(host: "127.0.0.1", port: 50051))
        #expect(configuration.metricsListen == HostPort(host: "127.0.0.1", port: 9101))
        #expect(configuration.postgres.host == "127.0.0.1" && configuration.postgres.database == "wharf")
        #expect(configuration.redis.port == 6379)
        #expect(configuration.maxMessageBytes == 4 * 1024 * 1024)
        #expect(configuration.jobs.lease == .seconds(30))
    }

    @Test("an invalid WHARF_POSTGRES_URL is reported by name with what was expected, password masked")
    func invalidPostgresURL() {
        #expect {
            try load(["WHARF_POSTGRES_URL": "mysql://root:hunter2@db/x"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("WHARF_POSTGRES_URL") && text.contains("expected postgres://")
                && !text.contains("hunter2") && text.contains("mysql://root:***@db/x")
        }
    }

    @Test("every bad variable is reported at once")
    func severalProblems() {
        #expect {
            try load([
                "WHARF_LISTEN": "nonsense", "WHARF_JOB_LEASE": "soon", "WHARF_LOG_LEVEL": "loud",
                "WHARF_REDIS_URL": "http://x", "WHARF_TLS_CERT": "/etc/cert.pem", "WHARF_REDIS_CHANNEL_PREFIX": "a b",
            ])
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return Set(error.entries.map(\.variable)) == [
                "WHARF_LISTEN", "WHARF_JOB_LEASE", "WHARF_LOG_LEVEL", "WHARF_REDIS_URL", "WHARF_TLS_KEY",
                "WHARF_REDIS_CHANNEL_PREFIX",
            ]
        }
    }

    @Test("URLs parse into their parts and mask secrets when described")
    func urls() throws {
        let postgres = try PostgresConfiguration(url: "postgresql://app:s%40cret@db.internal:6543/wharf?sslmode=require")
        #expect(postgres.host == "db.internal" && postgres.port == 6543 && postgres.username == "app")
        #expect(postgres.password == "s@cret" && postgres.database == "wharf" && postgres.sslMode == .require)
        #expect(postgres.maskedDescription == "postgres://app:***@db.internal:6543/wharf?sslmode=require")
        #expect(throws: ConfigurationProblem.self) { try PostgresConfiguration(url: "postgres://db/wharf") }
        #expect(throws: ConfigurationProblem.self) { try PostgresConfiguration(url: "postgres://u@db/wharf?sslmode=maybe") }

        let redis = try RedisConfiguration(url: "redis://:pw@cache:6380/2")
        #expect(redis.host == "cache" && redis.port == 6380 && redis.password == "pw" && redis.database == 2)
        #expect(redis.maskedDescription == "redis://:***@cache:6380/2")
        #expect(MaskedURL.mask("postgres://u:p@h/d") == "postgres://u:***@h/d")
    }

    @Test("host:port and durations parse strictly")
    func scalars() throws {
        #expect(try HostPort(parsing: "0.0.0.0:50051") == HostPort(host: "0.0.0.0", port: 50051))
        #expect(try HostPort(parsing: "[::1]:7777") == HostPort(host: "::1", port: 7777))
        #expect(throws: ConfigurationProblem.self) { try HostPort(parsing: "host:99999") }
        #expect(throws: ConfigurationProblem.self) { try HostPort(parsing: "50051") }
        let configuration = try load(["WHARF_JOB_LEASE": "1500ms", "WHARF_SHUTDOWN_GRACE": "2m", "WHARF_GRPC_KEEPALIVE": "36h"])
        #expect(configuration.jobs.lease == .milliseconds(1500))
        #expect(configuration.shutdownGrace == .seconds(120))
        #expect(configuration.keepaliveTime == .seconds(36 * 3600))
    }

    @Test("wharfctl exits 78 naming WHARF_POSTGRES_URL when it is invalid; config prints values masked")
    func processRefusesInvalidURL() async throws {
        let wharfctl = try builtExecutable("wharfctl")
        let bad = try await runExecutable(wharfctl, ["migrate"], environment: ["WHARF_POSTGRES_URL": "not a url"])
        #expect(bad.status == 78)
        #expect(bad.output.contains("invalid configuration: WHARF_POSTGRES_URL: expected postgres://"), "\(bad.output)")

        let shown = try await runExecutable(
            wharfctl, ["config"],
            environment: [
                "WHARF_POSTGRES_URL": "postgres://app:topsecret@db:5432/wharf", "WHARF_REDIS_URL": "redis://:pw2@cache:6379/0",
            ])
        #expect(shown.status == 0)
        #expect(shown.output.contains("WHARF_POSTGRES_URL=postgres://app:***@db:5432/wharf?sslmode=disable"))
        #expect(shown.output.contains("WHARF_REDIS_URL=redis://:***@cache:6379/0"))
        #expect(!shown.output.contains("topsecret") && !shown.output.contains("pw2"))
    }
}
