import Foundation
import GRPCCore

/// How the console words what it shows: reasons, durations, sizes, times. No I/O.
public enum ConsoleText {
    /// A failure as one line: a gRPC status's code and message, else the error's description; at most 300
    /// characters (a service's message is shown, never trusted to be short).
    public static func reason(_ error: any Error) -> String {
        let text: String
        if let rpc = error as? RPCError {
            text = "\(rpc.code): \(rpc.message)"
        } else {
            text = String(describing: error)
        }
        let line = text.replacingOccurrences(of: "\n", with: " ")
        return line.count > 300 ? String(line.prefix(299)) + "…" : line
    }

    /// 1.2 KB, 3.4 MB, … (powers of 1000, as backrest shows sizes).
    public static func bytes(_ value: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"]
        var amount = Double(value)
        var unit = 0
        while abs(amount) >= 1000, unit < units.count - 1 {
            amount /= 1000
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", amount, units[unit])
    }

    /// A duration in milliseconds as `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 10 min`.
    public static func duration(milliseconds: Int64) -> String {
        if milliseconds < 0 { return "–" }
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds < 60_000 { return String(format: "%.1f s", Double(milliseconds) / 1000) }
        let seconds = milliseconds / 1000
        if seconds < 3600 { return String(format: "%lld min %02lld s", seconds / 60, seconds % 60) }
        return String(format: "%lld h %02lld min", seconds / 3600, (seconds % 3600) / 60)
    }

    /// Unix milliseconds as `2026-12-07 14:03:21 UTC`; "–" for 0.
    public static func time(unixMilliseconds: Int64) -> String {
        guard unixMilliseconds > 0 else { return "–" }
        return time(Date(timeIntervalSince1970: Double(unixMilliseconds) / 1000))
    }

    public static func time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: date)
    }

    /// `0.0 %`, `12.5 %`.
    public static func percent(_ ratio: Double) -> String {
        guard ratio.isFinite else { return "–" }
        return String(format: "%.1f %%", ratio * 100)
    }

    /// Requests per second with one decimal.
    public static func rate(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        return String(format: "%.1f", value)
    }

    /// A count read from a metrics endpoint (a Double): whole numbers as such, anything a process should not
    /// report (not finite, beyond 10^15) without converting it to an integer, which would trap.
    public static func count(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        guard abs(value) < 1e15 else { return String(format: "%.3g", value) }
        return String(Int64(value))
    }

    /// Seconds as milliseconds, `–` when unknown.
    public static func milliseconds(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite else { return "–" }
        return String(format: "%.1f ms", seconds * 1000)
    }
}
