/// The one comparison of secrets in Wharf (admin token, peer secrets, gateway bearer tokens, registry
/// password digests): every byte of both sides is read whatever the lengths, and a length difference can
/// never cancel out (it is kept as a flag, not folded into the bytes' difference).
public enum ConstantTime {
    /// Whether `lhs` and `rhs` hold the same bytes; the time taken depends only on the longer length.
    public static func equal(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        let left = Array(lhs)
        let right = Array(rhs)
        let length = max(left.count, right.count)
        var difference: UInt8 = left.count == right.count ? 0 : 1
        for index in 0..<length {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }

    /// Whether `presented` equals one of `accepted`; every candidate is compared in full (no early exit), so
    /// the time does not tell which one matched or how far a guess got.
    public static func matchesAny(_ presented: some Collection<UInt8>, of accepted: [[UInt8]]) -> Bool {
        let bytes = Array(presented)
        var matched = false
        for candidate in accepted where equal(bytes, candidate) { matched = true }
        return matched
    }
}
