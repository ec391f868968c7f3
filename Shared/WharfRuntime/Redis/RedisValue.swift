import NIOCore

/// A decoded RESP2 reply.
public enum RedisValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString(ByteBuffer)
    case null
    case array([RedisValue])

    /// The value as text, for simple and bulk strings.
    public var string: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulkString(let buffer): return String(buffer: buffer)
        default: return nil
        }
    }

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// Errors of the Redis client. `server` carries an error reply (`-ERR ...`) verbatim.
public enum RedisError: Error, CustomStringConvertible, Sendable, Equatable {
    case server(String)
    case protocolError(String)
    case connectionClosed
    case notConnected(String)
    case unexpectedReply(String)
    case timedOut(Duration)

    public var description: String {
        switch self {
        case .server(let message): return "redis error reply: \(message)"
        case .protocolError(let message): return "redis protocol error: \(message)"
        case .connectionClosed: return "redis connection closed"
        case .timedOut(let limit): return "redis did not answer within \(limit) (the connection was closed)"
        case .notConnected(let reason): return "redis not connected: \(reason)"
        case .unexpectedReply(let what): return "unexpected redis reply: \(what)"
        }
    }
}
