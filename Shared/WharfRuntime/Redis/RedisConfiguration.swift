import Foundation

/// Where and how to reach Redis, parsed from `WHARF_REDIS_URL`
/// (`redis://[[user]:password@]host[:port][/db]`).
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    public var connectTimeout: Duration
    /// How long a command waits for its reply. A Redis that accepts connections but does not answer (stopped,
    /// swapping) must not hold up the writes whose hints it carries; replies are matched by order, so a
    /// connection with an overdue reply is closed and the next command opens another.
    public var commandTimeout: Duration
    /// The first part of every pub/sub channel name (`<prefix>.record.pushed`). Redis pub/sub ignores the
    /// database number, so two Wharf systems sharing one Redis need different prefixes
    /// (`WHARF_REDIS_CHANNEL_PREFIX`) or each would act on the other's events.
    public var channelPrefix = RedisConfiguration.defaultChannelPrefix

    public static let defaultChannelPrefix = "wharf"

    /// Letters, digits, `-`, `_` and `.`, at most 64 bytes: a channel name stays readable in `redis-cli`.
    public static func channelPrefixProblem(_ prefix: String) -> String? {
        guard !prefix.isEmpty, prefix.utf8.count <= 64 else { return "expected 1 to 64 characters, got \(prefix.utf8.count)" }
        let allowed = prefix.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0))
        }
        return allowed ? nil : "expected letters, digits, '-', '_' or '.'"
    }

    public init(
        host: String, port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0, connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(5)
    ) {
        self.commandTimeout = commandTimeout
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
    }

    /// Parses a `redis://` URL; the error text says what is wrong without echoing a password.
    public init(url: String) throws(ConfigurationProblem) {
        let expected = "expected redis://[[user]:password@]host[:port][/db]"
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw ConfigurationProblem("\(expected), got \(MaskedURL.mask(url))")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigurationProblem("missing host; \(expected)")
        }
        let port = components.port ?? 6379
        guard (1...65535).contains(port) else { throw ConfigurationProblem("port \(port) out of range 1-65535") }
        var database = 0
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else {
                throw ConfigurationProblem("database must be a non-negative number, got \"\(path)\"")
            }
            database = number
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.init(host: host, port: port, username: user, password: components.password, database: database)
    }

    /// The URL with any password replaced by `***`, for logs.
    public var maskedDescription: String {
        var credentials = ""
        if username != nil || password != nil {
            credentials = "\(username ?? "")\(password == nil ? "" : ":***")@"
        }
        return "redis://\(credentials)\(host):\(port)/\(database)"
    }
}
