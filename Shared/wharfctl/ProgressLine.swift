import Foundation
import Synchronization

/// Progress of a long transfer: bytes (or items) done, rate and time left. On a terminal it is one line
/// redrawn in place at most 10 times a second; otherwise a plain line at most every 5 seconds (a log keeps
/// a readable record), or nothing with `--quiet`. Written to standard error: standard output keeps only the
/// results, for scripts.
final class ProgressLine: Sendable {
    enum Unit { case bytes, items }
    enum Mode { case terminal, plain, quiet }

    let label: String
    let total: Int64?
    let unit: Unit
    let mode: Mode
    private let started = ContinuousClock.now

    private struct State {
        var done: Int64 = 0
        var lastDrawn: ContinuousClock.Instant?
        var drewInPlace = false
    }

    private let state = Mutex(State())

    var done: Int64 { state.withLock { $0.done } }

    init(label: String, total: Int64?, unit: Unit = .bytes, quiet: Bool) {
        self.label = label
        self.total = total
        self.unit = unit
        self.mode = quiet ? .quiet : (isatty(STDOUT_FILENO) == 1 ? .terminal : .plain)
    }

    func advance(by count: Int64) {
        update { $0 += count }
    }

    /// Sets the amount done outright (a stream reporting its own totals), with `detail` after the figures.
    func show(done: Int64, detail: String) {
        update(detail: detail) { $0 = done }
    }

    private func update(detail: String? = nil, _ change: (inout Int64) -> Void) {
        let now = ContinuousClock.now
        let interval: Duration = mode == .terminal ? .milliseconds(100) : .seconds(5)
        let line = state.withLock { state -> String? in
            change(&state.done)
            if let lastDrawn = state.lastDrawn, now - lastDrawn < interval { return nil }
            // Short transfers print nothing: the first line comes after a fifth of a second on a terminal.
            if state.lastDrawn == nil, now - started < (mode == .terminal ? .milliseconds(200) : interval) { return nil }
            state.lastDrawn = now
            if mode == .terminal { state.drewInPlace = true }
            var line = Self.describe(done: state.done, total: total, unit: unit, elapsed: now - started, label: label)
            if let detail { line += ", " + detail }
            return line
        }
        guard let line else { return }
        switch mode {
        case .terminal: write("\r\u{1B}[2K" + line)
        case .plain: write(line + "\n")
        case .quiet: break
        }
    }

    /// Clears the line on a terminal; the command then prints its result.
    func finish() {
        if mode == .terminal, state.withLock({ $0.drewInPlace }) { write("\r\u{1B}[2K") }
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    /// "put big.iso: 312.0 MiB of 1.0 GiB (30%), 480.2 MiB/s, 1 s left"
    static func describe(done: Int64, total: Int64?, unit: Unit, elapsed: Duration, label: String) -> String {
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
        let rate = Double(done) / seconds
        var text = "\(label): \(amount(Double(done), unit))"
        if let total, total > 0 {
            text += " of \(amount(Double(total), unit)) (\(Int(max(0, min(100, Double(done) * 100 / Double(total)))))%)"
        }
        text += ", \(amount(rate, unit))/s"
        if let total, total > done, rate > 0 {
            text += ", \(duration((Double(total) - Double(done)) / rate)) left"
        }
        return text
    }

    /// Formatted from a Double, never converted to an integer type: counts come from servers too.
    static func amount(_ value: Double, _ unit: Unit) -> String {
        switch unit {
        case .items:
            return String(format: "%.0f", value.rounded(.down)) + " items"
        case .bytes:
            let units = ["B", "KiB", "MiB", "GiB", "TiB"]
            var scaled = value
            var index = 0
            while scaled >= 1024, index < units.count - 1 { scaled /= 1024; index += 1 }
            return index == 0 ? String(format: "%.0f", scaled) + " B" : String(format: "%.1f", scaled) + " " + units[index]
        }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "?" }
        let whole = Int(seconds.rounded(.up))
        if whole < 60 { return "\(whole) s" }
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \(whole / 60 % 60) min"
    }
}
