/// The console's stylesheet and script, served from /static/ (no build step, no CDN: works offline).
enum StaticAssets {
    static let stylesheet = """
        :root { --ink: #1d2430; --muted: #5d6878; --line: #d8dde5; --bg: #f6f7f9; --ok: #1f7a3a; --warn: #a05a00;
          --bad: #b3261e; --accent: #1f5fbf; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
        * { box-sizing: border-box; }
        body { margin: 0; color: var(--ink); background: var(--bg); font-size: 14px; }
        header { background: #1d2430; color: #fff; }
        header nav { display: flex; gap: 4px; align-items: center; padding: 0 16px; }
        header nav a { color: #cfd6e2; text-decoration: none; padding: 12px 10px; }
        header nav a[aria-current=page] { color: #fff; border-bottom: 3px solid #6fa3ff; }
        header nav .brand { font-weight: 700; color: #fff; margin-right: 12px; }
        header nav form { margin-left: auto; }
        header nav button { background: transparent; color: #cfd6e2; border: 1px solid #56627a; border-radius: 4px; padding: 4px 10px; }
        main { padding: 16px 24px; max-width: 1400px; }
        h1 { font-size: 20px; margin: 8px 0 16px; }
        h2 { font-size: 16px; margin: 24px 0 8px; }
        summary { cursor: pointer; }
        summary h2 { display: inline; }
        section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; }
        .tiles { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 16px; }
        .tile { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; }
        .tile .label { color: var(--muted); font-size: 12px; }
        .tile .value { font-size: 22px; font-weight: 600; }
        .state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e8ebf0; }
        .state.ok { background: #dcf1e2; color: var(--ok); }
        .state.warn { background: #fdecd5; color: var(--warn); }
        .state.bad { background: #fbe0de; color: var(--bad); }
        .muted { color: var(--muted); }
        .error { color: var(--bad); }
        .notice { background: #eef4ff; border: 1px solid #c4d7ff; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
        .problem { background: #fdeceb; border: 1px solid #f3b6b0; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
        form.inline { display: inline; }
        form.filters, form.stack { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
        label { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--muted); }
        input, select, textarea { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; }
        textarea { width: 100%; min-height: 120px; font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
        button { font: inherit; padding: 4px 12px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
        button.secondary { background: #fff; color: var(--accent); }
        button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
        pre { background: #f1f3f6; padding: 10px; border-radius: 6px; overflow: auto; max-height: 600px; }
        svg text { font-size: 11px; fill: var(--muted); }
        .login { max-width: 380px; margin: 80px auto; }
        """

    /// Refreshes `[data-live]` texts and `[data-live-svg]` charts from the page's JSON every 5 s, and marks the
    /// page stale when the console cannot be reached.
    static let script = """
        (function () {
          "use strict";
          var url = document.body.getAttribute("data-refresh");
          if (!url) { return; }
          function apply(data) {
            var texts = data.text || {};
            Object.keys(texts).forEach(function (key) {
              document.querySelectorAll('[data-live="' + CSS.escape(key) + '"]').forEach(function (node) {
                node.textContent = texts[key];
              });
            });
            var classes = data.classes || {};
            Object.keys(classes).forEach(function (key) {
              document.querySelectorAll('[data-live="' + CSS.escape(key) + '"]').forEach(function (node) {
                node.className = classes[key];
              });
            });
            var charts = data.svg || {};
            Object.keys(charts).forEach(function (key) {
              document.querySelectorAll('[data-live-svg="' + CSS.escape(key) + '"]').forEach(function (node) {
                node.innerHTML = charts[key];
              });
            });
          }
          function tick() {
            fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
              .then(function (response) {
                if (response.status === 401) { window.location.assign("/login"); return null; }
                return response.ok ? response.json() : null;
              })
              .then(function (data) { if (data) { apply(data); document.body.removeAttribute("data-stale"); } })
              .catch(function () { document.body.setAttribute("data-stale", "true"); });
          }
          window.setInterval(tick, 5000);
        })();
        """
}
