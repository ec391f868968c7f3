import Foundation

/// PEM as backrest writes and reads it: Go's `pem.Decode` ignores the label, so any `-----BEGIN X-----`
/// block is accepted; keys are written with backrest's own labels ("EC PUBLIC", "EC PRIVATE").
enum BackrestPEM {
    /// The DER bytes of the first PEM block in `text`, whatever its label; nil when there is none or its
    /// body is not base64.
    static func decode(_ text: String) -> [UInt8]? {
        var body = ""
        var inside = false
        for line in text.split(whereSeparator: \.isNewline) {
            let line = line.trimmingCharacters(in: .whitespaces)
            if !inside {
                if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") { inside = true }
                continue
            }
            if line.hasPrefix("-----END ") { return Data(base64Encoded: body).map { Array($0) } }
            // Headers ("Proc-Type: ...") may precede the body; Go skips them.
            if line.contains(":") { continue }
            body += line
        }
        return nil
    }

    static func encode(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN \(label)-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<end]))
            index = end
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }
}
