import Foundation

/// A credential shared between a node and its callers (the admin token, a peer's secret). It is compared in
/// constant time, never printed, and has a minimum length so that a typo such as `changeme` is refused at start.
public struct SharedSecret: Sendable, CustomStringConvertible {
    public static let minimumBytes = 16
    public static let maximumBytes = 1024

    private let bytes: [UInt8]

    /// nil when `text` is shorter than 16 bytes, longer than 1024, or holds anything but printable ASCII
    /// without spaces (it travels in gRPC metadata and in environment variables).
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard (Self.minimumBytes...Self.maximumBytes).contains(bytes.count), bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return nil
        }
        self.bytes = bytes
    }

    /// Whether `presented` is this secret, byte for byte over both full lengths (in constant time).
    public func matches(_ presented: some StringProtocol) -> Bool {
        ConstantTime.equal(bytes, presented.utf8)
    }

    /// The secret's bytes, for comparing with `ConstantTime.matchesAny`.
    public var utf8: [UInt8] { bytes }

    /// The secret as sent in metadata (only by clients that hold it).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public var description: String { "***" }

    public static let requirement = "16 to 1024 printable ASCII characters without spaces"
}

extension EnvironmentReader {
    /// A secret from `name`, or from the file named by `name_FILE` (a mounted Kubernetes Secret; one trailing
    /// newline is ignored). nil when neither is set; a problem is recorded when the value is unfit.
    public func secret(_ name: String) -> SharedSecret? {
        let fileVariable = name + "_FILE"
        let direct = optionalString(name, secret: true)
        let path = optionalString(fileVariable)
        let text: String
        let source: String
        switch (direct, path) {
        case (nil, nil):
            return nil
        case (let value?, nil):
            text = value
            source = name
        case (nil, let path?):
            guard let contents = FileManager.default.contents(atPath: path) else {
                fail(fileVariable, "cannot read file \"\(path)\"")
                return nil
            }
            var value = String(decoding: contents, as: UTF8.self)
            if value.hasSuffix("\n") { value.removeLast() }
            if value.hasSuffix("\r") { value.removeLast() }
            text = value
            source = fileVariable
        case (.some, .some):
            fail(name, "set \(name) or \(fileVariable), not both")
            return nil
        }
        guard let secret = SharedSecret(text) else {
            fail(source, "expected \(SharedSecret.requirement)")
            return nil
        }
        return secret
    }
}
