import Foundation

/// Text that came from a server, made safe for a terminal: escape sequences (ESC and every other C0 or C1
/// control character, and DEL) are shown as `\u{…}` instead of being obeyed, so a hostile server cannot
/// move the cursor, rewrite earlier lines or retitle the window through wharfctl's output.
enum ServerText {
    /// `text` with control characters made visible; tabs and (unless `singleLine`) newlines are kept.
    static func safe(_ text: String, singleLine: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { isControl($0, singleLine: singleLine) }) else { return text }
        var output = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar, singleLine: singleLine) {
                output += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    private static func isControl(_ scalar: Unicode.Scalar, singleLine: Bool) -> Bool {
        switch scalar.value {
        case 0x09: false
        case 0x0a: singleLine
        case 0x00...0x1f, 0x7f, 0x80...0x9f: true
        default: false
        }
    }
}

/// A streamed answer collected with a bound: a server that never stops sending cannot fill wharfctl's memory.
enum BoundedCollection {
    static let maximumItems = 1_000_000

    static func collect<Messages: AsyncSequence, Item>(
        _ messages: Messages, what: String, limit: Int = maximumItems, _ transform: (Messages.Element) -> Item
    ) async throws -> [Item] {
        var items: [Item] = []
        for try await message in messages {
            guard items.count < limit else {
                throw CommandFailure.input("the server sent more than \(limit) \(what); stopped reading (narrow the request)")
            }
            items.append(transform(message))
        }
        return items
    }
}
