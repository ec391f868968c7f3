import NegentropyProtocol
import WharfEncoding
import WharfRuntime

/// The JSON arrays a relay sends (NIP-01 and NIP-77), written directly: event objects are stored as JSON
/// and go out unchanged.
enum RelayFrame {
    static func event(subscription: String, eventJSON: String) -> String {
        var output: [UInt8] = Array("[\"EVENT\",".utf8)
        NostrJSON.appendString(subscription, to: &output)
        output.append(UInt8(ascii: ","))
        output += Array(eventJSON.utf8)
        output.append(UInt8(ascii: "]"))
        return String(decoding: output, as: UTF8.self)
    }

    static func ok(eventID: String, accepted: Bool, message: String) -> String {
        var output: [UInt8] = Array("[\"OK\",".utf8)
        NostrJSON.appendString(eventID, to: &output)
        output += Array((accepted ? ",true," : ",false,").utf8)
        NostrJSON.appendString(message, to: &output)
        output.append(UInt8(ascii: "]"))
        return String(decoding: output, as: UTF8.self)
    }

    static func eose(subscription: String) -> String { strings(["EOSE", subscription]) }
    static func closed(subscription: String, reason: String) -> String { strings(["CLOSED", subscription, reason]) }
    static func notice(_ message: String) -> String { strings(["NOTICE", message]) }
    static func negMessage(subscription: String, message: [UInt8]) -> String { strings(["NEG-MSG", subscription, message.hexString]) }

    static func negError(subscription: String, reason: String, limit: Int? = nil) -> String {
        guard let limit else { return strings(["NEG-ERR", subscription, reason]) }
        var output: [UInt8] = []
        NostrJSON.appendStringArray(["NEG-ERR", subscription, reason], to: &output)
        output.removeLast()
        output += Array(",\(limit)]".utf8)
        return String(decoding: output, as: UTF8.self)
    }

    private static func strings(_ values: [String]) -> String {
        var output: [UInt8] = []
        NostrJSON.appendStringArray(values, to: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
