import Foundation

/// What every Put in progress holds so that the collector leaves its chunks alone, however slow it is.
public protocol UploadLeaseStore: Sendable {
    /// Takes a lease for a Put that starts now.
    func take() async throws -> any UploadLease
    /// When the oldest live upload began (nil when none is in progress).
    func oldestLiveStart() async throws -> Date?
}

/// One Put's lease.
public protocol UploadLease: Sendable {
    /// Gives the lease back (once; later calls do nothing): the collector may take what it protected.
    func release()
}
