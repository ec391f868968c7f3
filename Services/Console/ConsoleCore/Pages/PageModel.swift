import Foundation

/// Values a page shows that its script refreshes from the page's JSON: texts and classes by `data-live` key,
/// SVG charts by `data-live-svg` key.
struct LiveValues: Sendable {
    var text: [String: String] = [:]
    var classes: [String: String] = [:]
    var svg: [String: String] = [:]

    func json() -> Data {
        let object: [String: Any] = ["text": text, "classes": classes, "svg": svg]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}

/// One page as built from the system's answers, before the layout is added.
struct PageModel {
    /// The template's name and the navigation entry it belongs to.
    var page: String
    var title: String
    /// What the page's template reads (besides the layout's fields).
    var context: [String: Any]
    var live = LiveValues()
    /// The JSON the page refreshes from (nil: a page that does not refresh).
    var refresh: String?
    /// What could not be read (a service unavailable): shown at the top, the rest of the page still renders.
    var problems: [String] = []
}

/// The state classes `.state.ok|warn|bad`.
enum StateClass {
    static func of(ok: Bool) -> String { ok ? "state ok" : "state bad" }
    static let ok = "state ok"
    static let warn = "state warn"
    static let bad = "state bad"
    static let neutral = "state"
}

/// What a form did.
enum FormOutcome {
    /// Done: go back to the page with this notice code.
    case done(String)
    /// Created a secret (a pairing token): show the page with it, once.
    case createdToken(String)
    /// Refused or failed: show the page with this problem.
    case problem(String)
}
