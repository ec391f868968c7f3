/// A small line chart of a series (requests per second over the window), drawn by the server as SVG.
enum Sparkline {
    static let width = 160.0
    static let height = 28.0

    /// `label` names the series for screen readers and the tooltip.
    static func svg(_ values: [Double], label: String) -> String {
        let finite = values.map { $0.isFinite ? max(0, $0) : 0 }
        let top = max(finite.max() ?? 0, 1e-9)
        let title = SVGText.escape("\(label): latest \(ConsoleText.rate(finite.last ?? 0)), peak \(ConsoleText.rate(finite.max() ?? 0))")
        var svg = "<svg class=\"sparkline\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
        svg += "role=\"img\" aria-label=\"\(title)\"><title>\(title)</title>"
        svg += "<line x1=\"0\" y1=\"\(Int(height) - 1)\" x2=\"\(Int(width))\" y2=\"\(Int(height) - 1)\" stroke=\"#d8dde5\"/>"
        if finite.count >= 2 {
            let step = width / Double(finite.count - 1)
            let points = finite.enumerated().map { index, value in
                "\(SVGText.number(Double(index) * step)),\(SVGText.number(height - 2 - (value / top) * (height - 4)))"
            }
            svg += "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>"
        }
        return svg + "</svg>"
    }
}
