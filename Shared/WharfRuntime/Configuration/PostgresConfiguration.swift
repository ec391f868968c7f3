import Foundation
import NIOSSL
import PostgresNIO

/// Where and how to reach PostgreSQL, parsed from `WHARF_POSTGRES_URL`
/// (`postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`).
public struct PostgresConfiguration: Sendable {
    public enum SSLMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var maximumConnections: Int
    public var connectTimeout: Duration

    public init(
        host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
        sslMode: SSLMode = .disable, maximumConnections: Int = 20, connectTimeout: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.maximumConnections = maximumConnections
        self.connectTimeout = connectTimeout
    }

    public init(url: String) throws(ConfigurationProblem) {
        let expected = "expected postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]"
        guard let components = URLComponents(string: url),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw ConfigurationProblem("\(expected), got \"\(MaskedURL.mask(url))\"")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigurationProblem("missing host; \(expected)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ConfigurationProblem("missing user name; \(expected)")
        }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !database.isEmpty else { throw ConfigurationProblem("missing database name; \(expected)") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw ConfigurationProblem("port \(port) out of range 1-65535") }
        var sslMode = SSLMode.disable
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw ConfigurationProblem("sslmode must be disable, prefer or require, got \"\(item.value ?? "")\"")
                }
                sslMode = mode
            default:
                throw ConfigurationProblem("unknown parameter \"\(item.name)\" (only sslmode is understood)")
            }
        }
        self.init(
            host: host, port: port, username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding, database: database, sslMode: sslMode)
    }

    /// The URL with the password masked, for logs.
    public var maskedDescription: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// The postgres-nio client configuration for this database.
    public var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }
}
