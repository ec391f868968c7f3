import WharfProto

/// One RecordQuery as upstream's `QueryMatchesLabels` evaluates it against a record's labels: SKILL v
/// matches `/skills/v` or anything under `/skills/v/`; LOCATOR v matches `/locators/v` exactly;
/// UNSPECIFIED matches every record; any other type matches nothing. Byte comparison, no wildcards.
public struct LabelQuery: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case skill, locator, unspecified, unknown(Int)
    }

    public var kind: Kind
    public var value: String

    public init(_ query: Routing_V1_RecordQuery) {
        switch query.type {
        case .skill: kind = .skill
        case .locator: kind = .locator
        case .unspecified: kind = .unspecified
        case .UNRECOGNIZED(let number): kind = .unknown(number)
        }
        value = query.value
    }

    public var proto: Routing_V1_RecordQuery {
        .with {
            switch kind {
            case .skill: $0.type = .skill
            case .locator: $0.type = .locator
            case .unspecified: $0.type = .unspecified
            case .unknown(let number): $0.type = .UNRECOGNIZED(number)
            }
            $0.value = value
        }
    }

    /// The match key (`RecordLabels.matchKeys`) a record must carry for this query to match it, nil for
    /// UNSPECIFIED and unknown types (which match every record, or none, whatever its labels).
    public var matchKey: String? {
        switch kind {
        case .skill: RecordLabels.skillPrefix + value + "/"
        case .locator: RecordLabels.locatorPrefix + value
        case .unspecified, .unknown: nil
        }
    }

    public func matches(_ labels: [String]) -> Bool {
        switch kind {
        case .unspecified: return true
        case .unknown: return false
        case .skill, .locator:
            return matchKey.map(RecordLabels.matchKeys(labels).contains) ?? false
        }
    }

    /// Queries deduplicated by (type, value), first occurrence kept, as upstream does before matching.
    public static func deduplicated(_ queries: [Routing_V1_RecordQuery]) -> [LabelQuery] {
        var seen = Set<LabelQuery>()
        return queries.map(LabelQuery.init).filter { seen.insert($0).inserted }
    }
}
