/// The Relay page.
enum RelayTemplate {
    static let page = """
        {{<layout}}{{$body}}
        <div class="tiles">
        <div class="tile"><div class="label">Peer sync</div><div class="value">{{syncActive}}</div></div>
        <div class="tile"><div class="label">Peers</div><div class="value" id="peer-count">{{peerCount}}</div></div>
        <div class="tile"><div class="label">Open sessions</div><div class="value" id="session-count" data-live="sessionCount">{{sessionCount}}</div></div>
        <div class="tile"><div class="label">Last peer sync</div><div class="value">{{lastSync}}</div></div>
        </div>
        <section>
        <h2>Peers</h2>
        <table id="peers">
        <thead><tr><th>Peer</th><th>State</th><th>Last sync</th><th class="num">Events</th><th class="num">Failures</th><th>Last error</th></tr></thead>
        <tbody>
        {{#peers}}<tr data-peer="{{url}}"><td class="mono">{{url}}</td><td><span class="{{statusClass}}">{{status}}</span></td><td>{{lastSync}}</td><td class="num">{{events}}</td><td class="num">{{failures}}</td><td class="error">{{error}}</td></tr>
        {{/peers}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Open sessions</h2>
        <table id="sessions">
        <thead><tr><th>Replica</th><th>Subscription</th><th>Connection</th><th class="num">Rounds</th><th>Opened</th><th>Last activity</th></tr></thead>
        <tbody>
        {{#sessions}}<tr data-subscription="{{subscription}}"><td class="mono">{{replica}}</td><td class="mono">{{subscription}}</td><td class="mono">{{connection}}</td><td class="num">{{rounds}}</td><td>{{opened}}</td><td>{{active}}</td></tr>
        {{/sessions}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Recent reconciliations</h2>
        <table id="reconciliations">
        <thead><tr><th>Replica</th><th>Transport</th><th>Subscription</th><th>Started</th><th>Duration</th><th class="num">Rounds</th><th class="num">Set size</th><th>Outcome</th></tr></thead>
        <tbody>
        {{#reconciliations}}<tr data-reconciliation="{{subscription}}"><td class="mono">{{replica}}</td><td>{{transport}}</td><td class="mono">{{subscription}}</td><td>{{started}}</td><td>{{duration}}</td><td class="num">{{rounds}}</td><td class="num">{{setSize}}</td><td><span class="{{outcomeClass}}">{{outcome}}</span> <span class="error">{{error}}</span></td></tr>
        {{/reconciliations}}
        </tbody>
        </table>
        </section>
        {{/body}}{{/layout}}
        """
}
