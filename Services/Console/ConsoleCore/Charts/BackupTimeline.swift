import Foundation

/// Backups per plan over time, one row per host and plan, one mark per backup coloured by its outcome, drawn by
/// the server as SVG (tooltips name the backup).
enum BackupTimeline {
    struct Mark: Sendable {
        var row: String
        var startMilliseconds: Int64
        /// "success", "warning", "error", or another status name.
        var status: String
        var label: String
    }

    static let width = 900.0
    static let rowHeight = 22.0
    static let labelWidth = 220.0

    static func color(_ status: String) -> String {
        switch status {
        case "success": "#1f7a3a"
        case "warning": "#c77800"
        case "error": "#b3261e"
        default: "#8a94a6"
        }
    }

    static func svg(_ marks: [Mark], now: Date = Date()) -> String {
        let rows = Array(Set(marks.map(\.row))).sorted()
        guard !rows.isEmpty else { return "<p class=\"muted\" id=\"timeline-empty\">No backups yet.</p>" }
        // Start times are what backup hosts reported: any Int64. The scale is computed in Double, where no
        // difference of two of them can overflow.
        let end = max(Int64(now.timeIntervalSince1970 * 1000), marks.map(\.startMilliseconds).max() ?? 0)
        let start = min(marks.map(\.startMilliseconds).min() ?? end, end.subtractingReportingOverflow(3_600_000).partialValue)
        let span = max(1, Double(end) - Double(start))
        let plot = width - labelWidth - 10
        let height = rowHeight * Double(rows.count) + 24
        var svg = "<svg id=\"backup-timeline\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
        svg += "role=\"img\" aria-label=\"Backups per plan over time\">"
        for (index, row) in rows.enumerated() {
            let y = rowHeight * Double(index) + rowHeight / 2
            svg += "<text x=\"0\" y=\"\(SVGText.number(y + 4))\">\(SVGText.escape(String(row.prefix(40))))</text>"
            svg +=
                "<line x1=\"\(Int(labelWidth))\" y1=\"\(SVGText.number(y))\" x2=\"\(Int(width - 10))\" y2=\"\(SVGText.number(y))\" stroke=\"#e3e7ee\"/>"
        }
        let rowIndex = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1, $0) })
        for mark in marks {
            guard let index = rowIndex[mark.row] else { continue }
            let x = labelWidth + plot * (Double(mark.startMilliseconds) - Double(start)) / span
            let y = rowHeight * Double(index) + rowHeight / 2
            svg += "<circle class=\"backup \(SVGText.escape(mark.status))\" cx=\"\(SVGText.number(x))\" cy=\"\(SVGText.number(y))\" r=\"5\" "
            svg += "fill=\"\(color(mark.status))\"><title>\(SVGText.escape(mark.label))</title></circle>"
        }
        let axisY = rowHeight * Double(rows.count) + 16
        svg += "<text x=\"\(Int(labelWidth))\" y=\"\(SVGText.number(axisY))\">\(SVGText.escape(ConsoleText.time(unixMilliseconds: start)))</text>"
        svg +=
            "<text x=\"\(Int(width - 10))\" y=\"\(SVGText.number(axisY))\" text-anchor=\"end\">\(SVGText.escape(ConsoleText.time(unixMilliseconds: end)))</text>"
        return svg + "</svg>"
    }
}
