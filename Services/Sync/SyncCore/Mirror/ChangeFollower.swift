import Foundation
import GRPCCore
import RecordIdentity
import Synchronization
import WharfProto
import WharfRuntime

/// Follows a Wharf remote's change feed (WatchRecords) for one round: the feed is opened before the
/// catch-up reconciliation, so nothing pushed meanwhile falls between the two; records added later are
/// handed to `changed` in small batches within milliseconds. The round ends after `window`, when the sync
/// is no longer IN_PROGRESS (checked every 2 s, when `statusCheck` is also told whether everything the feed
/// sent has been copied, so that the sync's lag stays near zero while it follows), or when the feed ends (the
/// next round reconciles again).
enum ChangeFollower {
    static func follow(
        _ directory: RemoteDirectory, for window: Duration,
        statusCheck: @escaping @Sendable (_ inStep: Bool) async throws -> Bool,
        catchUp: @escaping @Sendable () async throws -> Void,
        changed: @escaping @Sendable ([String]) async throws -> Void
    ) async throws {
        let buffer = ChangeBuffer()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { buffer.finish() }
                do {
                    try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: directory.client).watchRecords(.init()) { response in
                        buffer.open()
                        for try await change in response.messages where change.present && !change.cid.isEmpty {
                            // Only what can be a CID is kept (a hostile remote could send megabytes per change);
                            // anything else fails the round, named in the sync's last error.
                            guard change.cid.utf8.count <= 256, RecordCID.digest(of: change.cid) != nil else {
                                throw MirrorFailure("the remote's change feed sent something that is not a CID (\(change.cid.utf8.count) bytes)")
                            }
                            buffer.append(change.cid)
                        }
                    }
                } catch let error as RPCError where error.code == .cancelled {
                    return
                }
            }
            group.addTask {
                // Wait (at most 5 s) for the feed to open, so that the catch-up covers everything before it.
                _ = await buffer.opened.wait(timeout: .seconds(5))
                try await catchUp()
                let clock = ContinuousClock()
                let end = clock.now + window
                var nextStatusCheck = clock.now + .seconds(2)
                while clock.now < end {
                    await buffer.doorbell.wait(timeout: .seconds(1))
                    // A burst of pushes arrives as one batch.
                    try? await Task.sleep(for: .milliseconds(20))
                    let (cids, ended) = buffer.drain(upTo: SyncMirror.batchSize * 4)
                    if !cids.isEmpty { try await changed(cids) }
                    if ended && cids.isEmpty { return }
                    if clock.now >= nextStatusCheck {
                        guard try await statusCheck(cids.isEmpty && !ended) else { return }
                        nextStatusCheck = clock.now + .seconds(2)
                    }
                }
            }
            // The follower ends the round; the feed is then closed.
            try await group.next()
            group.cancelAll()
        }
    }
}

/// CIDs the feed delivered and the follower has not taken yet (bounded: beyond it the next round's
/// reconciliation finds what was dropped).
final class ChangeBuffer: Sendable {
    static let capacity = 100_000
    private let state = Mutex((cids: [String](), ended: false))
    let doorbell = Doorbell()
    let opened = Doorbell()

    func open() { opened.ring() }

    func append(_ cid: String) {
        state.withLock { state in
            if state.cids.count < Self.capacity { state.cids.append(cid) }
        }
        doorbell.ring()
    }

    func finish() {
        state.withLock { $0.ended = true }
        opened.ring()
        doorbell.ring()
    }

    func drain(upTo limit: Int) -> (cids: [String], ended: Bool) {
        state.withLock { state in
            let taken = Array(state.cids.prefix(limit))
            state.cids.removeFirst(taken.count)
            return (taken, state.ended)
        }
    }
}
