import Foundation

/// What a page's HTML says, read the way the tests need it: rows by their data attributes, element texts by id.
/// (The browser tests read the real DOM; these read the server's answer.)
enum HTMLRows {
    /// The `<tr …>` elements carrying `attribute`, as (its value, the row's text without tags).
    static func rows(_ html: String, attribute: String) -> [(value: String, text: String)] {
        var found: [(String, String)] = []
        var rest = html[...]
        while let start = rest.range(of: "<tr \(attribute)=\"") {
            let valueStart = start.upperBound
            guard let valueEnd = rest[valueStart...].firstIndex(of: "\""), let end = rest[valueStart...].range(of: "</tr>") else { break }
            let contents = rest[valueStart..<end.lowerBound].firstIndex(of: ">").map { rest.index(after: $0) } ?? valueStart
            found.append((unescape(String(rest[valueStart..<valueEnd])), text(String(rest[contents..<end.lowerBound]))))
            rest = rest[end.upperBound...]
        }
        return found
    }

    /// The text of the element with `id`.
    static func text(ofID id: String, in html: String) -> String? {
        guard let start = html.range(of: "id=\"\(id)\"") else { return nil }
        guard let open = html[start.upperBound...].firstIndex(of: ">") else { return nil }
        let rest = html[html.index(after: open)...]
        guard let close = rest.range(of: "</") else { return nil }
        return text(String(rest[..<close.lowerBound]))
    }

    /// Tags removed, entities decoded, whitespace collapsed.
    static func text(_ fragment: String) -> String {
        var output = ""
        var inTag = false
        for character in fragment {
            if character == "<" {
                inTag = true
            } else if character == ">" {
                inTag = false; output.append(" ")
            } else if !inTag {
                output.append(character)
            }
        }
        return unescape(output).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&#x2F;", with: "/").replacingOccurrences(of: "&amp;", with: "&")
    }
}
