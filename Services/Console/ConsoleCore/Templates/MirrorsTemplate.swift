/// The Mirrors page.
enum MirrorsTemplate {
    static let page = """
        {{<layout}}{{$body}}
        <div class="tiles">
        <div class="tile"><div class="label">Syncs</div><div class="value" id="sync-count">{{syncCount}}</div></div>
        {{#statusCounts}}<div class="tile"><div class="label">{{status}}</div><div class="value" data-status-count="{{status}}">{{count}}</div></div>{{/statusCounts}}
        </div>
        <section>
        <h2>Syncs</h2>
        <table id="syncs">
        <thead><tr><th>Remote</th><th>State</th><th>Method</th><th class="num">Discovered</th><th class="num">Copied</th><th class="num">Present</th><th class="num">Rejected</th><th class="num">Bytes</th><th>Lag</th><th class="num">Failures</th><th>Last error</th><th>Last round</th><th></th></tr></thead>
        <tbody>
        {{#syncs}}<tr data-sync="{{id}}"><td class="mono">{{remote}}<div class="muted">{{id}}</div></td>
        <td><span class="{{statusClass}}" data-live="status:{{id}}">{{status}}</span></td><td>{{method}}</td>
        <td class="num">{{discovered}}</td><td class="num" data-live="copied:{{id}}">{{copied}}</td><td class="num">{{present}}</td><td class="num">{{rejected}}</td>
        <td class="num">{{bytes}}</td><td data-live="lag:{{id}}">{{lag}}</td><td class="num">{{failures}}</td><td class="error">{{lastError}}</td><td>{{lastRound}}</td>
        <td>{{#isAdmin}}<form class="inline" method="post" action="/mirrors/delete"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="id" value="{{id}}"><button type="submit" class="danger">Delete</button></form>{{/isAdmin}}</td></tr>
        {{/syncs}}
        </tbody>
        </table>
        {{#isAdmin}}
        <h2>Create a sync</h2>
        <form class="stack" method="post" action="/mirrors" id="create-sync">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Remote directory (host:port) <input name="remote" id="sync-remote" required maxlength="2048"></label>
        <label>Only these CIDs (optional, one per line) <textarea name="cids" rows="3"></textarea></label>
        <button type="submit" id="create-sync-button">Create</button>
        </form>
        {{/isAdmin}}
        </section>
        <section>
        <h2>Registry credentials handed out</h2>
        <table id="credentials">
        <thead><tr><th>Node</th><th>User</th><th>Issued</th><th>Expires</th><th>State</th><th></th></tr></thead>
        <tbody>
        {{#credentials}}<tr data-username="{{username}}" data-node="{{node}}"><td class="mono">{{node}}</td><td class="mono">{{username}}</td><td>{{issued}}</td><td>{{expires}}</td><td><span class="{{stateClass}}">{{state}}</span></td>
        <td>{{#isAdmin}}{{#live}}<form class="inline" method="post" action="/mirrors/credentials/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="node" value="{{node}}"><button type="submit" class="danger">Revoke the node's</button></form>{{/live}}{{/isAdmin}}</td></tr>
        {{/credentials}}
        </tbody>
        </table>
        </section>
        {{/body}}{{/layout}}
        """
}
