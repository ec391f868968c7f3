/// The `grpc-message` header: percent-encoded UTF-8, as the gRPC HTTP/2 protocol says (every byte outside
/// printable ASCII, and `%` itself). Used by the servers' own early answers and by the gateway.
public enum GRPCStatusMessage {
    public static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count < 2 ? "0" + hex : hex)
            }
        }
        return result
    }
}
