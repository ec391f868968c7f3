#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address as bytes (4 or 16), with what kind of network it belongs to.
public struct IPAddressBytes: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Parses a literal (`127.0.0.1`, `::1`, `[::1]`); nil for anything else.
    public init?(literal: String) {
        var text = literal
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// What makes the address internal (not reachable on the public internet), or nil for a public address.
    public var internalKind: String? {
        if bytes.count == 16 {
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return IPAddressBytes(bytes: Array(bytes[12...])).internalKind  // IPv4-mapped
            }
            if bytes.allSatisfy({ $0 == 0 }) { return "unspecified" }
            if bytes[0..<15].allSatisfy({ $0 == 0 }), bytes[15] == 1 { return "loopback" }
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return "link-local" }
            if bytes[0] & 0xFE == 0xFC { return "private (unique local)" }
            // Translated and tunnelled IPv4 reach whatever IPv4 address they embed, internal ones included.
            if bytes[0] == 0x00, bytes[1] == 0x64, bytes[2] == 0xFF, bytes[3] == 0x9B { return "NAT64 (64:ff9b::/96, 64:ff9b:1::/48)" }
            if bytes[0] == 0x20, bytes[1] == 0x02 { return "6to4 (2002::/16)" }
            if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x00, bytes[3] == 0x00 { return "Teredo (2001::/32)" }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) { return "IPv4-compatible (::/96)" }
            if bytes[0] == 0xFF { return "multicast" }
            return nil
        }
        let (a, b) = (bytes[0], bytes[1])
        switch a {
        case 0: return "unspecified"
        case 10: return "private"
        case 127: return "loopback"
        case 100 where b & 0xC0 == 64: return "private (carrier-grade NAT)"
        case 169 where b == 254: return "link-local"
        case 172 where b & 0xF0 == 16: return "private"
        case 192 where b == 168: return "private"
        case 198 where b & 0xFE == 18: return "private (benchmarking)"
        case 224...239: return "multicast"
        case 240...255: return "reserved"
        default: return nil
        }
    }

    /// Whether the first `prefixLength` bits equal those of `network`.
    func isIn(_ network: IPAddressBytes, prefixLength: Int) -> Bool {
        guard network.bytes.count == bytes.count else { return false }
        var remaining = prefixLength
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != network.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let text: String? = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)).map { _ in
                String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        return text ?? "?"
    }

    /// Every address `host` resolves to, in the resolver's order without repeats (the system resolver:
    /// it blocks, so callers run it off the cooperative pool).
    public static func resolve(_ host: String) -> [IPAddressBytes] {
        if let literal = IPAddressBytes(literal: host) { return [literal] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddressBytes] = []
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        var value = $0.pointee.sin_addr
                        addresses.append(IPAddressBytes(bytes: withUnsafeBytes(of: &value) { Array($0) }))
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        var value = $0.pointee.sin6_addr
                        addresses.append(IPAddressBytes(bytes: withUnsafeBytes(of: &value) { Array($0) }))
                    }
                default:
                    break
                }
            }
            entry = current.pointee.ai_next
        }
        var seen = Set<IPAddressBytes>()
        return addresses.filter { seen.insert($0).inserted }
    }
}
