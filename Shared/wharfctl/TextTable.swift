import Foundation

/// Columns padded to their widest cell, as `kubectl get` prints them.
struct TextTable {
    var header: [String]
    var rows: [[String]]

    var lines: [String] {
        // Cells hold what servers sent: one line each, control characters made visible.
        let all = ([header] + rows).map { $0.map { ServerText.safe($0, singleLine: true) } }
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }

    func print() {
        FileHandle.standardOutput.write(Data(lines.map { $0 + "\n" }.joined().utf8))
    }
}

enum TimeText {
    /// Unix seconds as RFC 3339 in UTC (`2026-12-03T10:00:00Z`); "-" for none (0 or less).
    static func rfc3339(unixSeconds: Double) -> String {
        unixSeconds > 0 ? ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: unixSeconds)) : "-"
    }
}
