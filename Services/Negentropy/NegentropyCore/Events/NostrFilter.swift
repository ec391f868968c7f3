import Foundation
import WharfEncoding

/// A NIP-01 filter. Present conditions are AND-ed, the values of one condition OR-ed; a present but empty
/// list matches nothing. `#x` tag conditions match events with a tag named `x` whose first value is one of
/// the listed values. `limit` asks for the newest events (ties: lowest id first).
public struct NostrFilter: Sendable, Equatable {
    public var ids: [String]?
    public var authors: [String]?
    public var kinds: [Int]?
    /// Tag letter (without `#`) → accepted values.
    public var tags: [String: [String]]
    public var since: Int64?
    public var until: Int64?
    public var limit: Int?

    public init(
        ids: [String]? = nil, authors: [String]? = nil, kinds: [Int]? = nil, tags: [String: [String]] = [:],
        since: Int64? = nil, until: Int64? = nil, limit: Int? = nil
    ) {
        self.ids = ids
        self.authors = authors
        self.kinds = kinds
        self.tags = tags
        self.since = since
        self.until = until
        self.limit = limit
    }

    /// Whether the filter can match anything at all (an empty list or `since > until` cannot).
    public var isSatisfiable: Bool {
        if ids?.isEmpty == true || authors?.isEmpty == true || kinds?.isEmpty == true { return false }
        if tags.values.contains(where: \.isEmpty) { return false }
        if let since, let until, since > until { return false }
        if limit == 0 { return false }
        return true
    }
}

/// Why a filter was refused, in NIP-01's prefix form.
public struct FilterError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension NostrFilter {
    /// Parses a NIP-01 filter object. Unknown keys are ignored (other NIPs add some, e.g. `search`), wrong
    /// types and malformed hex are refused.
    public init(json object: [String: Any]) throws(FilterError) {
        self.init()
        for (key, value) in object {
            switch key {
            case "ids": ids = try Self.hexList(value, key: key)
            case "authors": authors = try Self.hexList(value, key: key)
            case "kinds":
                guard let list = value as? [Any] else { throw FilterError("invalid: kinds must be an array of integers") }
                kinds = try list.map { element throws(FilterError) in
                    guard let number = Self.integer(element), (0...65535).contains(number) else {
                        throw FilterError("invalid: kinds must be integers between 0 and 65535")
                    }
                    return Int(number)
                }
            case "since", "until", "limit":
                guard let number = Self.integer(value), number >= 0 else { throw FilterError("invalid: \(key) must be a non-negative integer") }
                switch key {
                case "since": since = number
                case "until": until = number
                default: limit = Int(number)
                }
            case _ where key.hasPrefix("#") && key.count == 2:
                guard let list = value as? [Any], list.allSatisfy({ $0 is String }) else {
                    throw FilterError("invalid: \(key) must be an array of strings")
                }
                tags[String(key.dropFirst())] = list.compactMap { $0 as? String }
            default:
                continue
            }
        }
    }

    /// The filter as a NIP-01 JSON object (sent in NEG-OPEN when this service is the initiator).
    public var jsonObject: [String: Any] {
        var object: [String: Any] = [:]
        if let ids { object["ids"] = ids }
        if let authors { object["authors"] = authors }
        if let kinds { object["kinds"] = kinds }
        for (name, values) in tags { object["#" + name] = values }
        if let since { object["since"] = since }
        if let until { object["until"] = until }
        if let limit { object["limit"] = limit }
        return object
    }

    private static func hexList(_ value: Any, key: String) throws(FilterError) -> [String] {
        guard let list = value as? [Any] else { throw FilterError("invalid: \(key) must be an array of hex strings") }
        return try list.map { element throws(FilterError) in
            guard let text = element as? String, text.utf8.count == 64, let _ = Data(hexString: text) else {
                throw FilterError("invalid: \(key) must hold 64-digit hex values")
            }
            return text.lowercased()
        }
    }

    /// An integral JSON number (JSONSerialization gives NSNumber; booleans are refused).
    private static func integer(_ value: Any) -> Int64? {
        // JSON booleans also arrive as NSNumber (objCType "c"), and `1 is Bool` holds on Linux.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 9.2e18 else { return nil }
        return number.int64Value
    }
}
