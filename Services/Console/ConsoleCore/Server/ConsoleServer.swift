import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import WharfRuntime

/// The console's web server: sign-in, the pages and their JSON, the forms (admin only, CSRF-checked).
public final class ConsoleServer: Service, Sendable {
    let address: HostPort
    let settings: ConsoleSettings
    let signer: ConsoleSessionSigner
    let renderer: ConsoleRenderer
    let pages: ConsolePages
    let quietTimeout: Duration
    let logger: Logger
    /// Sign-in attempts per caller address: 10 at once, then 10 a minute.
    let signIns = KeyedRateLimiter(burst: 10, perMinute: 10)
    private let bound = OnceValue<Int>()

    init(address: HostPort, settings: ConsoleSettings, signer: ConsoleSessionSigner, pages: ConsolePages, quietTimeout: Duration, logger: Logger)
        throws
    {
        self.address = address
        self.settings = settings
        self.signer = signer
        self.renderer = try ConsoleRenderer()
        self.pages = pages
        self.quietTimeout = quietTimeout
        self.logger = logger
    }

    /// The bound port once listening (configured port 0 in tests).
    public func boundPort() async -> Int { await bound.value }

    public func run() async throws {
        let router = Router(context: ConsoleContext.self)
        router.get("static/console.css") { _, _ in ConsoleHTTP.asset(StaticAssets.stylesheet, type: "text/css; charset=utf-8") }
        router.get("static/console.js") { _, _ in ConsoleHTTP.asset(StaticAssets.script, type: "text/javascript; charset=utf-8") }
        router.get("favicon.ico") { _, _ in ConsoleHTTP.text("no icon", status: .notFound) }
        router.get("/") { _, _ in ConsoleHTTP.redirect("/system") }
        router.get("login") { [self] request, _ in loginPage(request, problem: nil, status: .ok) }
        router.post("login") { [self] request, context in try await signIn(request, context: context) }
        router.post("logout") { [self] request, _ in
            try await submit(request, adminOnly: false) { _, _ in
                ConsoleHTTP.redirect(
                    "/login", cookies: [ConsoleHTTP.expiredCookie(ConsoleSessionSigner.cookieName, secure: settings.secureCookies)])
            }
        }
        pages.register(on: router, server: self)
        let connections = HTTPConnectionGuard(perAddress: 256, total: 1024, quietTimeout: quietTimeout)
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in connections.guarding(HTTP1Channel(responder: responder)) },
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [bound] channel in bound.set(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await application.run()
    }

    // MARK: sessions

    func session(_ request: Request) -> ConsoleSession? {
        ConsoleHTTP.cookie(ConsoleSessionSigner.cookieName, in: request).flatMap { signer.verify($0, now: Self.now()) }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// A page for a signed-in person; anyone else is sent to sign in.
    func page(_ request: Request, notice: String? = nil, _ build: (ConsoleSession) async -> PageModel) async -> Response {
        guard let session = session(request) else { return ConsoleHTTP.redirect("/login") }
        let model = await build(session)
        return ConsoleHTTP.html(renderer.render(model, session: session, csrf: signer.csrfToken(for: session), notice: notice))
    }

    /// A page's live values as JSON; 401 without a session (the script then goes to sign in).
    func live(_ request: Request, _ build: (ConsoleSession) async -> PageModel) async -> Response {
        guard let session = session(request) else { return ConsoleHTTP.text("sign in first", status: .unauthorized) }
        var live = await build(session).live
        live.text["readAt"] = ConsoleText.time(Date())
        return ConsoleHTTP.json(live.json())
    }

    /// A form post: a session (an admin's, unless `adminOnly` is false), its CSRF token, and an Origin (when the
    /// browser sends one) that is this console's own. Anything else is refused before the form is read further.
    func submit(_ request: Request, adminOnly: Bool = true, _ handle: (ConsoleSession, FormFields) async throws -> Response) async throws
        -> Response
    {
        guard let session = session(request) else { return ConsoleHTTP.text("sign in first", status: .unauthorized) }
        if let origin = request.headers[.origin], !Self.allowed(origin: origin, host: request.head.authority, publicOrigin: settings.publicOrigin) {
            return ConsoleHTTP.text("refused: the form was posted from another site (\(origin.prefix(100)))", status: .forbidden)
        }
        let fields: FormFields
        do {
            fields = try await ConsoleHTTP.form(request)
        } catch {
            return ConsoleHTTP.text("the form is larger than \(ConsoleHTTP.maximumFormBytes) bytes", status: .contentTooLarge)
        }
        guard let csrf = fields["csrf"], signer.checkCSRF(csrf, session: session) else {
            return ConsoleHTTP.text("refused: the form carries no valid CSRF token; reload the page and try again", status: .forbidden)
        }
        guard !adminOnly || session.role == .admin else {
            return ConsoleHTTP.text("refused: a viewer session cannot change anything", status: .forbidden)
        }
        return try await handle(session, fields)
    }

    /// Whether an Origin header (`scheme://host[:port]`) is the console's: the configured public origin when
    /// there is one (a proxy in front changes Host), else the host the request was sent to.
    static func allowed(origin: String, host: String?, publicOrigin: String?) -> Bool {
        if let publicOrigin { return origin.lowercased() == publicOrigin.lowercased() }
        guard let host, let schemeEnd = origin.range(of: "://") else { return false }
        return origin[schemeEnd.upperBound...].lowercased() == host.lowercased()
    }

    // MARK: sign-in

    private func loginPage(_ request: Request, problem: String?, status: HTTPResponse.Status) -> Response {
        if problem == nil, session(request) != nil { return ConsoleHTTP.redirect("/system") }
        let nonce = ConsoleSessionSigner.nonce()
        let cookie = ConsoleHTTP.cookie(ConsoleSessionSigner.loginCookieName, nonce, maxAge: 3600, secure: settings.secureCookies)
        var problem = problem
        if !signer.canSignIn { problem = "This console has no admin token (WHARF_ADMIN_TOKEN): nobody can sign in." }
        return ConsoleHTTP.html(renderer.login(csrf: signer.loginToken(forNonce: nonce), problem: problem), status: status, cookies: [cookie])
    }

    private func signIn(_ request: Request, context: ConsoleContext) async throws -> Response {
        let caller = context.remoteAddress?.ipAddress ?? "unknown"
        guard signIns.take(caller) else {
            return loginPage(request, problem: "Too many sign-in attempts from your address; wait a minute.", status: .tooManyRequests)
        }
        let fields: FormFields
        do {
            fields = try await ConsoleHTTP.form(request)
        } catch {
            return ConsoleHTTP.text("the form is larger than \(ConsoleHTTP.maximumFormBytes) bytes", status: .contentTooLarge)
        }
        let nonce = ConsoleHTTP.cookie(ConsoleSessionSigner.loginCookieName, in: request) ?? ""
        guard let csrf = fields["csrf"], signer.checkLoginToken(csrf, nonce: nonce) else {
            return loginPage(request, problem: "The sign-in form expired or was not this console's; try again.", status: .forbidden)
        }
        guard let role = signer.role(forToken: fields["token"] ?? "") else {
            logger.notice("console sign-in refused", metadata: ["caller": "\(caller)"])
            return loginPage(request, problem: "That token is neither the admin token nor the viewer token.", status: .unauthorized)
        }
        let issued = signer.issue(role: role, now: Self.now())
        logger.notice("console sign-in", metadata: ["role": "\(role.rawValue)", "caller": "\(caller)"])
        return ConsoleHTTP.redirect(
            "/system",
            cookies: [
                ConsoleHTTP.cookie(ConsoleSessionSigner.cookieName, issued.cookie, maxAge: signer.lifetime, secure: settings.secureCookies),
                ConsoleHTTP.expiredCookie(ConsoleSessionSigner.loginCookieName, secure: settings.secureCookies),
            ])
    }
}
