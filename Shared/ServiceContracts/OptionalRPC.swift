import GRPCCore
import Synchronization

/// An RPC a peer may lack (Wharf's own bulk calls, asked of a store or routing service that may be upstream's):
/// tried until the peer answers UNIMPLEMENTED once, then the fallback is used for the life of this value, so a
/// peer without it costs one refused call rather than one per use.
public final class OptionalRPC: Sendable {
    private let unimplemented = Atomic<Bool>(false)

    public init() {}

    /// Whether the peer has answered UNIMPLEMENTED.
    public var knownMissing: Bool { unimplemented.load(ordering: .relaxed) }

    /// `preferred`, or `fallback` once the peer is known to lack it (or answers UNIMPLEMENTED now).
    public func call<Result>(_ preferred: () async throws -> Result, otherwise fallback: () async throws -> Result) async throws -> Result {
        if !knownMissing {
            do {
                return try await preferred()
            } catch let error as RPCError where error.code == .unimplemented {
                unimplemented.store(true, ordering: .relaxed)
            }
        }
        return try await fallback()
    }
}
