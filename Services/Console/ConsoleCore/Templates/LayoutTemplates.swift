/// The frame every page shares (navigation, sign-out form, live refresh) and the sign-in page.
enum LayoutTemplates {
    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Wharf console</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/static/console.css">
        <script src="/static/console.js" defer></script>
        </head>
        <body{{#refresh}} data-refresh="{{refresh}}"{{/refresh}} data-page="{{page}}">
        <header><nav>
        <a class="brand" href="/system">Wharf</a>
        {{#nav}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>
        {{/nav}}
        <form method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="sign-out">Sign out ({{role}})</button></form>
        </nav></header>
        <main>
        <h1>{{title}}</h1>
        {{#notice}}<div class="notice" id="notice">{{notice}}</div>{{/notice}}
        {{#problems}}<div class="problem">{{.}}</div>
        {{/problems}}
        {{$body}}{{/body}}
        <p class="muted">Read at <span data-live="readAt">{{readAt}}</span>{{#refresh}}; refreshed every 5 s{{/refresh}}.</p>
        </main>
        </body>
        </html>
        """

    static let login = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sign in · Wharf console</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/static/console.css">
        </head>
        <body data-page="login">
        <main class="login"><section>
        <h1>Wharf console</h1>
        {{#problem}}<div class="problem" id="problem">{{problem}}</div>{{/problem}}
        <form method="post" action="/login" class="stack">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Admin or viewer token <input type="password" name="token" id="token" autocomplete="current-password" required></label>
        <button type="submit" id="sign-in">Sign in</button>
        </form>
        <p class="muted">The admin token is the deployment's WHARF_ADMIN_TOKEN; a viewer token (WHARF_CONSOLE_VIEWER_TOKEN) opens the pages read-only.</p>
        </section></main>
        </body>
        </html>
        """
}
