/// The `grpc-timeout` request header (gRPC over HTTP/2: `TimeoutValue TimeoutUnit`, one to eight ASCII digits
/// and one of `H M S m u n`), checked before anything else reads it.
///
/// grpc-swift-2 2.4.3 (the newest in the package mirror) decodes the header with a `precondition` on the
/// amount: a value such as `-1S` passes its length check and traps the process. Every Wharf gRPC server and the
/// gateway run this check first and answer INVALID_ARGUMENT instead (docs/upstream-defects.md).
public enum GRPCTimeoutHeader {
    public static let name = "grpc-timeout"

    /// The decoded timeout in nanoseconds, saturated at `Int64.max` (99,999,999 hours does not fit).
    public enum Parsed: Equatable, Sendable {
        case valid(nanoseconds: Int64)
        case malformed(reason: String)
    }

    public static func parse(_ value: some StringProtocol) -> Parsed {
        let bytes = Array(value.utf8)
        guard bytes.count >= 2, bytes.count <= 9, let unit = bytes.last else {
            return .malformed(reason: "expected 1 to 8 digits and a unit (H, M, S, m, u or n), got \(quoted(value))")
        }
        let digits = bytes.dropLast()
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return .malformed(reason: "the amount must be 1 to 8 ASCII digits, got \(quoted(value))")
        }
        let amount = digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        let nanosecondsPerUnit: Int64
        switch unit {
        case UInt8(ascii: "H"): nanosecondsPerUnit = 3_600_000_000_000
        case UInt8(ascii: "M"): nanosecondsPerUnit = 60_000_000_000
        case UInt8(ascii: "S"): nanosecondsPerUnit = 1_000_000_000
        case UInt8(ascii: "m"): nanosecondsPerUnit = 1_000_000
        case UInt8(ascii: "u"): nanosecondsPerUnit = 1_000
        case UInt8(ascii: "n"): nanosecondsPerUnit = 1
        default:
            return .malformed(reason: "unknown unit in \(quoted(value)) (expected H, M, S, m, u or n)")
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: nanosecondsPerUnit)
        return .valid(nanoseconds: overflow ? .max : product)
    }

    /// The problem with the `grpc-timeout` values of a request, or nil when there is none or every one is valid.
    public static func problem(in values: some Sequence<some StringProtocol>) -> String? {
        for value in values {
            if case .malformed(let reason) = parse(value) { return "malformed grpc-timeout header: \(reason)" }
        }
        return nil
    }

    private static func quoted(_ value: some StringProtocol) -> String {
        let shown = value.utf8.count > 32 ? String(value.prefix(32)) + "…" : String(value)
        return "\"\(shown)\""
    }
}
