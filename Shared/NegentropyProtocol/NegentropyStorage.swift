/// A sealed, sorted set of items as the reconciler reads it. Implementations must answer `fingerprint` for
/// any range without rescanning it: a responder is asked for fingerprints of many ranges every round.
public protocol NegentropyStorage: Sendable {
    var count: Int { get }
    func item(at index: Int) -> NegentropyItem
    /// The protocol fingerprint of the items in `range`.
    func fingerprint(of range: Range<Int>) -> [UInt8]
}

extension NegentropyStorage {
    /// The first index in `range` whose item does not sort before `bound` (`range.upperBound` if none).
    func lowerBound(of bound: Bound, in range: Range<Int>) -> Int {
        var low = range.lowerBound, high = range.upperBound
        while low < high {
            let middle = low + (high - low) / 2
            if bound.isAfter(item(at: middle)) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
