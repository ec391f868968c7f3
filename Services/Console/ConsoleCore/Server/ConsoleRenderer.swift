import Foundation
import Mustache

/// Renders pages: each page's template inside the shared layout (HTML-escaped by mustache, except charts the
/// server drew and escaped itself).
struct ConsoleRenderer: Sendable {
    static let navigation = [
        ("system", "/system", "System"), ("hosts", "/hosts", "Backup hosts"), ("mirrors", "/mirrors", "Mirrors"),
        ("records", "/records", "Records"), ("relay", "/relay", "Relay"),
    ]

    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        try library.register(LayoutTemplates.layout, named: "layout")
        try library.register(LayoutTemplates.login, named: "login")
        for (name, template) in ConsoleTemplates.pages { try library.register(template, named: name) }
        self.library = library
    }

    func render(_ model: PageModel, session: ConsoleSession, csrf: String, notice: String?) -> String {
        var context = model.context
        let section = model.page == "record" ? "records" : model.page
        context["title"] = model.title
        context["page"] = model.page
        context["refresh"] = model.refresh ?? false
        context["csrf"] = csrf
        context["role"] = session.role.rawValue
        context["isAdmin"] = session.role == .admin
        context["notice"] = notice ?? false
        context["problems"] = model.problems
        context["readAt"] = ConsoleText.time(Date())
        context["nav"] = Self.navigation.map { id, href, label -> [String: Any] in
            ["href": href, "label": label, "current": id == section]
        }
        return library.render(context, withTemplate: Self.template(of: model.page)) ?? ""
    }

    func login(csrf: String, problem: String?) -> String {
        library.render(["csrf": csrf, "problem": problem ?? false] as [String: Any], withTemplate: "login") ?? ""
    }

    static func template(of page: String) -> String { page }
}

/// Every page template by name.
enum ConsoleTemplates {
    static let pages: [(String, String)] = [
        ("system", SystemTemplate.page), ("hosts", HostsTemplate.page), ("mirrors", MirrorsTemplate.page),
        ("records", RecordsTemplate.page), ("record", RecordsTemplate.record),
        ("relay", RelayTemplate.page),
    ]
}
