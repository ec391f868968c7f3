import Foundation

/// URLs as they may be shown or logged.
public enum MaskedURL {
    /// Replaces the password of `scheme://user:password@host/...` with `***` (service configuration printed
    /// at start: the user name helps an operator tell databases apart).
    public static func mask(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"),
            let at = url[schemeEnd.upperBound...].lastIndex(of: "@")
        else { return url }
        let credentials = url[schemeEnd.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }

    /// `url` with any userinfo (`user:password@`) of its authority removed: what a caller-given URL looks
    /// like wherever anyone but its author may read it (API answers, logs, last errors). Also the
    /// `user:password@host:port` form without a scheme.
    public static func withoutUserinfo(_ url: String) -> String {
        let authorityStart = url.range(of: "://")?.upperBound ?? url.startIndex
        let rest = url[authorityStart...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? url.endIndex
        guard let at = url[authorityStart..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<authorityStart]) + String(url[url.index(after: at)...])
    }
}
