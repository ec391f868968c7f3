import Foundation

/// Reads typed `WHARF_*` settings from an environment, collecting every problem instead of stopping at
/// the first, and remembering each value it read so the effective configuration can be logged.
public final class EnvironmentReader {
    public let environment: [String: String]
    private(set) var problems: [ConfigurationError.Entry] = []
    /// (variable, value as logged) in read order; secrets are masked.
    private(set) var effective: [(String, String)] = []

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The raw value, or nil when unset or empty.
    public func raw(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            return nil
        }
        return value
    }

    public func string(_ name: String, default defaultValue: String, secret: Bool = false) -> String {
        let value = raw(name) ?? defaultValue
        record(name, secret ? (value.isEmpty ? "" : "***") : value)
        return value
    }

    public func optionalString(_ name: String, secret: Bool = false) -> String? {
        let value = raw(name)
        record(name, value.map { secret ? "***" : $0 } ?? "(unset)")
        return value
    }

    public func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) -> Int {
        guard let text = raw(name) else {
            record(name, String(defaultValue))
            return defaultValue
        }
        guard let value = Int(text), range.contains(value) else {
            fail(name, "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
            return defaultValue
        }
        record(name, String(value))
        return value
    }

    /// A duration written as a number with a unit: `250ms`, `5s`, `2m`, `36h`. A bare number means seconds.
    public func duration(_ name: String, default defaultValue: Duration, minimum: Duration = .zero) -> Duration {
        guard let text = raw(name) else {
            record(name, Self.format(defaultValue))
            return defaultValue
        }
        guard let value = Self.parseDuration(text), value >= minimum else {
            fail(name, "expected a duration such as 500ms, 10s, 5m or 36h (at least \(Self.format(minimum))), got \"\(text)\"")
            return defaultValue
        }
        record(name, Self.format(value))
        return value
    }

    public func bool(_ name: String, default defaultValue: Bool) -> Bool {
        guard let text = raw(name) else {
            record(name, String(defaultValue))
            return defaultValue
        }
        switch text.lowercased() {
        case "1", "true", "yes", "on": record(name, "true"); return true
        case "0", "false", "no", "off": record(name, "false"); return false
        default:
            fail(name, "expected true or false, got \"\(text)\"")
            return defaultValue
        }
    }

    /// Parses a value with `parse`, recording its problem under `name`. `display` says how to log the result.
    public func parsed<T>(
        _ name: String, default defaultValue: String?, display: (T) -> String = { "\($0)" },
        _ parse: (String) throws(ConfigurationProblem) -> T
    ) -> T? {
        guard let text = raw(name) ?? defaultValue else {
            record(name, "(unset)")
            return nil
        }
        do {
            let value = try parse(text)
            record(name, display(value))
            return value
        } catch {
            fail(name, error.message)
            return nil
        }
    }

    public func fail(_ name: String, _ problem: String) {
        problems.append(.init(variable: name, problem: problem))
    }

    /// Throws every problem found so far, naming each variable.
    public func validate() throws(ConfigurationError) {
        if !problems.isEmpty { throw ConfigurationError(entries: problems) }
    }

    /// `NAME=value` lines of everything read, secrets masked, for the start-up log.
    public var effectiveConfiguration: [(String, String)] { effective }

    private func record(_ name: String, _ shown: String) {
        effective.removeAll { $0.0 == name }
        effective.append((name, shown))
    }

    /// The longest duration a setting may have (100 years): longer ones are refused, never converted with a trap.
    static let longestDuration: Double = 100 * 365 * 86_400

    /// `500ms`, `15s`, `10m`, `24h`, `7d`, or a bare number of seconds; nil when it is none of these or out of range.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        func milliseconds(_ number: Substring, _ secondsPerUnit: Double) -> Duration? {
            // Double() also reads "inf", "nan" and "1e400": only finite values within range become durations.
            guard let value = Double(number), value.isFinite, value >= 0, value * secondsPerUnit <= longestDuration else { return nil }
            return .milliseconds(Int64((value * secondsPerUnit * 1000).rounded()))
        }
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            // "5ms" also ends in "s": only accept when the rest is a number.
            if let value = milliseconds(text.dropLast(suffix.count), seconds) { return value }
        }
        return milliseconds(Substring(text), 1)
    }

    static func format(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if millis % 3_600_000 == 0 && millis > 0 { return "\(millis / 3_600_000)h" }
        if millis % 60_000 == 0 && millis > 0 { return "\(millis / 60_000)m" }
        if millis % 1000 == 0 { return "\(millis / 1000)s" }
        return "\(millis)ms"
    }
}
