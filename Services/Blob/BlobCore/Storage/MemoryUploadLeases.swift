import Foundation
import Synchronization

/// Upload leases of one process (the in-memory store's, and tests'): a lease counts until released.
package final class MemoryUploadLeases: UploadLeaseStore {
    private let live = Mutex<[UUID: Date]>([:])

    package init() {}

    package func take() async throws -> any UploadLease {
        let id = UUID()
        live.withLock { $0[id] = Date() }
        return Lease { [self] in live.withLock { _ = $0.removeValue(forKey: id) } }
    }

    package func oldestLiveStart() async throws -> Date? { live.withLock { $0.values.min() } }

    /// Leases held now.
    package var count: Int { live.withLock { $0.count } }

    final class Lease: UploadLease {
        private let onRelease: Mutex<(@Sendable () -> Void)?>

        init(_ onRelease: @escaping @Sendable () -> Void) { self.onRelease = Mutex(onRelease) }

        func release() {
            onRelease.withLock { action in
                defer { action = nil }; return action
            }?()
        }

        deinit { release() }
    }
}
