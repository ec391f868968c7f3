/// The Backup hosts page.
enum HostsTemplate {
    static let page = """
        {{<layout}}{{$body}}
        {{#createdToken}}<div class="notice">Pairing token created. Give it to the backrest client (Settings → Multihost → pair with a hub); it is shown only now:
        <pre id="created-token">{{createdToken}}</pre></div>{{/createdToken}}
        <div class="tiles">
        <div class="tile"><div class="label">Backup hosts</div><div class="value" id="client-count">{{clientCount}}</div></div>
        <div class="tile"><div class="label">Connected</div><div class="value" id="connected-count" data-live="connectedCount">{{connectedCount}}</div></div>
        <div class="tile"><div class="label">Plans whose latest backup failed</div><div class="value" id="failed-plans">{{failedPlans}}</div></div>
        </div>
        <section>
        <h2>Hosts</h2>
        <table id="hosts">
        <thead><tr><th>Host</th><th>Protocol</th><th>State</th><th>Last heartbeat</th><th>Permissions</th><th>Repos</th><th>Plans</th><th>Latest backup</th></tr></thead>
        <tbody>
        {{#hosts}}<tr data-keyid="{{keyid}}" data-instance="{{instance}}">
        <td><a href="/hosts?host={{instance}}">{{instance}}</a><div class="mono muted">{{shortKeyid}}</div></td><td>{{protocol}}</td>
        <td><span class="{{stateClass}}" data-live="state:{{keyid}}">{{state}}</span>{{#statusMessage}}<div class="muted">{{statusMessage}}</div>{{/statusMessage}}</td>
        <td data-live="heartbeat:{{keyid}}">{{heartbeat}}</td><td class="mono">{{permissions}}</td><td>{{repos}}</td><td>{{plans}}</td>
        <td><span class="{{lastBackupClass}}">{{lastBackup}}</span></td></tr>
        {{/hosts}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Operations</h2>
        <form class="filters" method="get" action="/hosts" id="operation-filter">
        <label>Host <select name="host" id="filter-host"><option value="">every host</option>{{#hostOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/hostOptions}}</select></label>
        <label>Plan <input name="plan" id="filter-plan" value="{{filterPlan}}" placeholder="every plan"></label>
        <label>Status <select name="status" id="filter-status">{{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statusOptions}}</select></label>
        <button type="submit" class="secondary">Filter</button>
        </form>
        <h2>Backups per plan</h2>
        <div id="timeline">{{{timeline}}}</div>
        <h2>Recent operations (<span id="operation-count">{{operationCount}}</span>)</h2>
        <table id="operations">
        <thead><tr><th>Host</th><th>Plan</th><th>Repo</th><th>Kind</th><th>Status</th><th>Started</th><th>Duration</th><th class="num">Added</th><th>Snapshot</th><th>Error</th></tr></thead>
        <tbody>
        {{#operations}}<tr data-plan="{{plan}}" data-status="{{status}}"><td>{{host}}</td><td>{{plan}}</td><td>{{repo}}</td><td>{{kind}}</td><td><span class="{{statusClass}}">{{status}}</span></td>
        <td>{{started}}</td><td>{{duration}}</td><td class="num">{{bytesAdded}}</td><td class="mono">{{snapshot}}</td><td class="error">{{error}}</td></tr>
        {{/operations}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Pairing tokens (backrest 1.13+)</h2>
        <table id="pairing-tokens">
        <thead><tr><th>Id</th><th>Label</th><th>Created</th><th>Expires</th><th>Uses</th><th>Permissions</th><th></th></tr></thead>
        <tbody>
        {{#tokens}}<tr data-token="{{id}}"><td class="mono">{{id}}</td><td>{{label}}</td><td>{{created}}</td><td>{{expires}}</td><td>{{uses}}</td><td class="mono">{{permissions}}</td>
        <td>{{#isAdmin}}<form class="inline" method="post" action="/hosts/pairing-tokens/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="id" value="{{id}}"><button type="submit" class="danger">Revoke</button></form>{{/isAdmin}}</td></tr>
        {{/tokens}}
        </tbody>
        </table>
        {{#isAdmin}}
        <h2>Create a pairing token</h2>
        <form class="stack" method="post" action="/hosts/pairing-tokens" id="create-token">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Label <input name="label" id="token-label" maxlength="200"></label>
        <label>Valid for (hours) <input name="hours" type="number" min="1" max="8760" value="24"></label>
        <label>Uses <input name="uses" type="number" min="1" max="1000" value="1"></label>
        {{#permissionChoices}}<label><span><input type="checkbox" name="permission" value="{{name}}"{{#checked}} checked{{/checked}}> {{name}}</span></label>{{/permissionChoices}}
        <label>Scope <input name="scope" value="*" title="* or plan:ID / repo:ID, comma-separated"></label>
        <button type="submit" id="create-token-button">Create</button>
        </form>
        {{/isAdmin}}
        </section>
        {{#isAdmin}}
        <section>
        <h2>Push a config</h2>
        <form method="post" action="/hosts/config" id="push-config">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Host <select name="keyid">{{#clientOptions}}<option value="{{keyid}}">{{instance}}</option>{{/clientOptions}}</select></label>
        <label>Repos and plans, as proto JSON: {"repos": [...], "plans": [...], "reposToDelete": [...], "plansToDelete": [...]}
        <textarea name="config" required>{"plans": []}</textarea></label>
        <button type="submit">Push now</button>
        </form>
        </section>
        {{/isAdmin}}
        <section>
        <h2>Refused connections</h2>
        <table id="refused">
        <thead><tr><th>Claimed host</th><th>Key</th><th>Why</th><th>When</th></tr></thead>
        <tbody>
        {{#refused}}<tr><td>{{instance}}</td><td class="mono">{{keyid}}</td><td>{{reason}}</td><td>{{at}}</td></tr>
        {{/refused}}
        </tbody>
        </table>
        </section>
        {{/body}}{{/layout}}
        """
}
