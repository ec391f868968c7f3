/// The metric names a PromQL expression reads, found lexically: what is left of its identifiers once strings,
/// label matchers, range and offset selectors, grouping clauses, function and aggregation names, keywords and
/// numbers are taken away. Enough for the expressions of deploy/ (no subqueries with nested grouping).
enum PromQLNames {
    static let keywords: Set<String> = [
        "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan",
    ]

    static func metrics(in expression: String) -> Set<String> {
        var text = ""
        var quote: Character?
        var braces = 0
        var brackets = 0
        for character in expression {
            if let open = quote {
                if character == open { quote = nil }
                continue
            }
            switch character {
            case "\"", "'", "`": quote = character
            case "{": braces += 1
            case "}": braces -= 1
            case "[": brackets += 1
            case "]": brackets -= 1
            default: if braces == 0 && brackets == 0 { text.append(character) }
            }
        }
        // Grouping clauses list labels: `by (component, le)`.
        let withoutGroupings = text.replacing(/(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/) { _ in " " }
        var names = Set<String>()
        for match in withoutGroupings.matches(of: /[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/) {
            let word = String(match.output.0).trimmingCharacters(in: .whitespaces)
            if word.hasSuffix("(") { continue }
            if keywords.contains(word.lowercased()) { continue }
            names.insert(word)
        }
        return names
    }
}
