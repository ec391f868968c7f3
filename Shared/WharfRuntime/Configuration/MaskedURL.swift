import Foundation

/// Replaces the password of `scheme://user:password@host/...` with `***` so URLs can be logged.
public enum MaskedURL {
    public static func mask(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"),
            let at = url[schemeEnd.upperBound...].lastIndex(of: "@")
        else { return url }
        let credentials = url[schemeEnd.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }
}
