/// Go's `encoding/json` formatting of a float64: the shortest digits that round-trip (as ES6
/// `Number.prototype.toString`), in exponent form `d.ddde±N` below 1e-6 or from 1e21 on, plain decimal
/// otherwise, never a trailing `.0`; `-0` stays `-0`.
enum GoFloat {
    static func format(_ value: Double) -> String {
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        let sign = value < 0 ? "-" : ""
        let (digits, pointPosition) = shortestDigits(value.magnitude)
        let magnitude = value.magnitude
        if magnitude < 1e-6 || magnitude >= 1e21 {
            let exponent = pointPosition - 1
            var text = sign + String(digits.first ?? "0")
            if digits.count > 1 { text += "." + digits.dropFirst() }
            return text + "e" + (exponent < 0 ? "-" : "+") + String(exponent.magnitude)
        }
        if pointPosition <= 0 {
            return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
        }
        if pointPosition >= digits.count {
            return sign + digits + String(repeating: "0", count: pointPosition - digits.count)
        }
        let split = digits.index(digits.startIndex, offsetBy: pointPosition)
        return sign + digits[..<split] + "." + digits[split...]
    }

    /// The shortest round-trip decimal digits of a positive finite `value` (no leading or trailing zeros)
    /// and where the decimal point goes: value = 0.<digits> × 10^pointPosition. Swift's `description` already
    /// prints the shortest round-trip digits; only its layout ("1e-07", "100.0", "1.5e+300") is normalised.
    static func shortestDigits(_ value: Double) -> (digits: String, pointPosition: Int) {
        let text = value.description
        let parts = text.split(separator: "e", maxSplits: 1)
        let mantissa = parts[0]
        let exponent = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        let pieces = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integral = pieces[0]
        let fraction = pieces.count > 1 ? pieces[1] : ""
        var digits = Substring(integral + fraction)
        var pointPosition = integral.count + exponent
        while digits.first == "0" {
            digits = digits.dropFirst()
            pointPosition -= 1
        }
        while digits.last == "0" { digits = digits.dropLast() }
        return (String(digits), pointPosition)
    }
}
