import Foundation

/// Conversions of values a client or an operator controls that never trap: a Double that is NaN, infinite
/// or beyond the type's range becomes the nearest representable value (NaN becomes 0).
extension Int64 {
    public init(clampingMilliseconds value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9.2e18 {
            self = .max
        } else if value <= -9.2e18 {
            self = .min
        } else {
            self = Int64(value.rounded(.down))
        }
    }
}

extension Duration {
    /// `seconds` as a duration, clamped to 0…100 years (NaN and negative values become 0).
    public static func clampedSeconds(_ seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .milliseconds(Int64(clampingMilliseconds: min(seconds, 100 * 365 * 86_400) * 1000))
    }

    /// Whole milliseconds of this duration, saturating at the bounds of Int64.
    public var clampedMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if overflowSum { return seconds < 0 ? .min : .max }
        return sum
    }
}

extension FixedWidthInteger {
    /// `self + other`, held at the type's bounds instead of trapping (counters summed from remote values).
    public func addingClamped(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }
}
