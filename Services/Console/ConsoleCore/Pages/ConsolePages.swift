import Hummingbird

/// Every page and form, registered on the console's router.
struct ConsolePages: Sendable {
    let backend: ConsoleBackend
    let monitor: ReplicaMonitor

    /// What a form that redirects back says it did (a code in the URL, never text a link could choose).
    static let notices = [
        "token-revoked": "The pairing token is revoked: it pairs no client from now on.",
        "config-pushed": "The config was delivered to the host.",
        "sync-created": "The sync is created; its first round starts shortly.",
        "sync-deleted": "The sync is deleted.",
        "credentials-revoked": "The node's registry credentials are revoked.",
    ]

    static func notice(_ request: Request) -> String? {
        request.uri.queryParameters.get("done").flatMap { notices[$0] }
    }

    func register(on router: Router<ConsoleContext>, server: ConsoleServer) {
        router.get("system") { request, _ in await server.page(request) { _ in SystemPage(monitor: monitor).model() } }
        router.get("system.json") { request, _ in await server.live(request) { _ in SystemPage(monitor: monitor).model() } }

        router.get("hosts") { request, _ in
            await server.page(request, notice: Self.notice(request)) { _ in await hostsPage(request).model() }
        }
        router.get("hosts.json") { request, _ in await server.live(request) { _ in await hostsPage(request).model() } }
        let forms = HostForms(backend: backend)
        router.post("hosts/pairing-tokens") { request, _ in
            try await server.submit(request) { session, fields in
                await answer(await forms.createToken(fields), request: request, server: server, back: "/hosts") { created in
                    var page = hostsPage(request)
                    page.createdToken = created
                    return await page.model()
                }
            }
        }
        router.post("hosts/pairing-tokens/revoke") { request, _ in
            try await server.submit(request) { _, fields in
                await answer(await forms.revokeToken(fields), request: request, server: server, back: "/hosts") { _ in
                    await hostsPage(request).model()
                }
            }
        }
        registerMirrors(on: router, server: server)
        registerRecords(on: router, server: server)
        router.get("relay") { request, _ in await server.page(request) { _ in await RelayPage(backend: backend, monitor: monitor).model() } }
        router.get("relay.json") { request, _ in await server.live(request) { _ in await RelayPage(backend: backend, monitor: monitor).model() } }
        router.post("hosts/config") { request, _ in
            try await server.submit(request) { _, fields in
                await answer(await forms.pushConfig(fields), request: request, server: server, back: "/hosts") { _ in
                    await hostsPage(request).model()
                }
            }
        }
    }

    private func registerMirrors(on router: Router<ConsoleContext>, server: ConsoleServer) {
        let page = MirrorsPage(backend: backend)
        let forms = MirrorForms(backend: backend)
        router.get("mirrors") { request, _ in await server.page(request, notice: Self.notice(request)) { _ in await page.model() } }
        router.get("mirrors.json") { request, _ in await server.live(request) { _ in await page.model() } }
        let posts: [(String, @Sendable (FormFields) async -> FormOutcome)] = [
            ("mirrors", forms.create), ("mirrors/delete", forms.delete), ("mirrors/credentials/revoke", forms.revokeCredentials),
        ]
        for (path, handle) in posts {
            router.post(RouterPath(path)) { request, _ in
                try await server.submit(request) { _, fields in
                    await answer(await handle(fields), request: request, server: server, back: "/mirrors") { _ in await page.model() }
                }
            }
        }
    }

    private func registerRecords(on router: Router<ConsoleContext>, server: ConsoleServer) {
        let records: @Sendable (Request) -> RecordsPage = { request in
            RecordsPage(backend: backend, query: String((request.uri.queryParameters.get("q") ?? "").prefix(4096)))
        }
        router.get("records") { request, _ in await server.page(request) { _ in await records(request).model() } }
        router.get("records.json") { request, _ in await server.live(request) { _ in await records(request).model() } }
        router.get("records/:cid") { request, context in
            let cid = context.parameters.get("cid") ?? ""
            return await server.page(request) { _ in await RecordPage(backend: backend, cid: cid).model() }
        }
    }

    private func hostsPage(_ request: Request) -> HostsPage {
        let query = request.uri.queryParameters
        return HostsPage(
            backend: backend,
            filter: .init(host: query.get("host"), plan: query.get("plan"), status: query.get("status")))
    }

    /// A form's answer: back to `back` with a notice, or the page again showing what was made or what went wrong.
    private func answer(
        _ outcome: FormOutcome, request: Request, server: ConsoleServer, back: String,
        page: (String?) async -> PageModel
    ) async -> Response {
        switch outcome {
        case .done(let code):
            return ConsoleHTTP.redirect("\(back)?done=\(code)")
        case .createdToken(let token):
            return await server.page(request) { _ in await page(token) }
        case .problem(let problem):
            var response = await server.page(request) { _ in
                var model = await page(nil)
                model.problems.insert(problem, at: 0)
                return model
            }
            response.status = .badRequest
            return response
        }
    }
}
