import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP listening socket bound by us, so that its accept backlog can be set: grpc-swift's transport listens
/// with NIO's default of 128, and a proxy that opens a connection per request (nginx's `grpc_pass`) overflows
/// that at once (`TcpExtListenOverflows` grew by hundreds in one benchmark run), which its clients see as
/// resets.
enum ListeningSocket {
    static let backlog: Int32 = 4096

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A bound, listening socket for `address` (the caller owns the descriptor).
    static func make(_ address: HostPort, backlog: Int32 = backlog) throws -> Int32 {
        let resolved = try NIOCore.SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
        let descriptor = socket(resolved.protocol.rawValue, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = resolved.withSockAddr { pointer, size in bind(descriptor, pointer, socklen_t(size)) }
        guard bound == 0, listen(descriptor, backlog) == 0 else {
            let code = errno
            close(descriptor)
            throw Failure(description: "cannot listen on \(address): errno \(code)")
        }
        return descriptor
    }
}
