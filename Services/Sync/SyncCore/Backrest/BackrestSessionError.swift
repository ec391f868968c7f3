import GRPCCore
import WharfProto

/// Why a hub session ended: the peer state it leaves (backrest's SyncError states) and the status the stream
/// ends with (the Wharf decisions: UNAUTHENTICATED when the identity is not proven, PERMISSION_DENIED when it
/// is proven but not authorized, INVALID_ARGUMENT for a protocol error, as backrest's ERROR_PROTOCOL).
struct BackrestSessionError: Error, CustomStringConvertible {
    var state: V1sync_ConnectionState
    var code: RPCError.Code
    var message: String

    var description: String { message }
    var rpcError: RPCError { RPCError(code: code, message: message) }

    static func unauthenticated(_ message: String) -> Self { .init(state: .errorAuth, code: .unauthenticated, message: message) }
    static func permissionDenied(_ message: String) -> Self { .init(state: .errorAuth, code: .permissionDenied, message: message) }
    static func protocolError(_ message: String) -> Self { .init(state: .errorProtocol, code: .invalidArgument, message: message) }

    /// A newer session of the same client began (on any replica): the newest connection wins.
    static let displaced = Self(
        state: .disconnected, code: .aborted, message: "displaced by a newer connection from the same peer")

    /// The replica is shutting down: the client reconnects (through the gateway, to another replica).
    static let shuttingDown = Self(
        state: .disconnected, code: .unavailable,
        message: "this hub replica is shutting down; reconnect")
}
