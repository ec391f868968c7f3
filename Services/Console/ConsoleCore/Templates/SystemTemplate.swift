/// The System page: every route and replica, health, traffic, dependencies and limits.
enum SystemTemplate {
    static let page = """
        {{<layout}}{{$body}}
        <div class="tiles">
        <div class="tile"><div class="label">Replicas serving</div><div class="value" id="replicas-serving" data-live="replicasServing">{{replicasServing}}</div></div>
        <div class="tile"><div class="label">Requests/s (gateway, last minute)</div><div class="value" id="gateway-rps" data-live="gatewayRate">{{gatewayRate}}</div></div>
        <div class="tile"><div class="label">Error ratio (gateway)</div><div class="value" data-live="gatewayErrors">{{gatewayErrors}}</div></div>
        <div class="tile"><div class="label">p99 (gateway)</div><div class="value" data-live="gatewayP99">{{gatewayP99}}</div></div>
        <div class="tile"><div class="label">PostgreSQL reachable</div><div class="value" id="postgres-reachable" data-live="postgres">{{postgres}}</div></div>
        <div class="tile"><div class="label">Redis reachable</div><div class="value" id="redis-reachable" data-live="redis">{{redis}}</div></div>
        </div>
        <section>
        <h2>Replicas</h2>
        <table id="replicas">
        <thead><tr><th>Component</th><th>Address</th><th>Health</th><th class="num">Requests/s</th><th class="num">Errors</th><th class="num">p99</th><th>Last 10 minutes</th><th>Up since</th></tr></thead>
        <tbody>
        {{#gateway}}<tr data-gateway="{{address}}"><td>gateway</td><td class="mono">{{address}}</td>
        <td><span class="{{healthClass}}">{{health}}</span></td><td class="num" data-live="rate:{{address}}">{{rate}}</td><td class="num">{{errors}}</td>
        <td class="num">{{p99}}</td><td data-live-svg="spark:{{address}}">{{{sparkline}}}</td><td>–</td></tr>
        {{/gateway}}
        {{#replicas}}<tr data-address="{{address}}" data-component="{{component}}">
        <td>{{component}}</td><td class="mono">{{address}}</td>
        <td><span class="{{healthClass}}" data-live="health:{{address}}">{{health}}</span>{{#problem}}<div class="error">{{problem}}</div>{{/problem}}</td>
        <td class="num" data-live="rate:{{address}}">{{rate}}</td><td class="num" data-live="errors:{{address}}">{{errors}}</td>
        <td class="num" data-live="p99:{{address}}">{{p99}}</td><td data-live-svg="spark:{{address}}">{{{sparkline}}}</td><td>{{startedAt}}</td>
        </tr>
        {{/replicas}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Routes</h2>
        <table id="routes">
        <thead><tr><th>gRPC service</th><th>Serving</th><th>Replicas</th></tr></thead>
        <tbody>
        {{#routes}}<tr data-service="{{service}}"><td class="mono">{{service}}</td><td><span class="{{servingClass}}">{{serving}}</span></td><td class="mono">{{replicas}}</td></tr>
        {{/routes}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Dependencies</h2>
        <table id="dependencies">
        <thead><tr><th>Component</th><th>Address</th><th>Dependency</th><th>State</th></tr></thead>
        <tbody>
        {{#dependencies}}<tr><td>{{component}}</td><td class="mono">{{address}}</td><td>{{name}}</td><td><span class="{{stateClass}}">{{state}}</span>{{#error}} <span class="error">{{error}}</span>{{/error}}</td></tr>
        {{/dependencies}}
        </tbody>
        </table>
        </section>
        <section>
        <h2>Limits in use</h2>
        <table id="limiters">
        <thead><tr><th>Component</th><th>Address</th><th>Limiter</th><th class="num">In use</th><th class="num">Limit</th><th class="num">Saturation</th></tr></thead>
        <tbody>
        {{#limiters}}<tr data-limiter="{{name}}"><td>{{component}}</td><td class="mono">{{address}}</td><td class="mono">{{name}}</td><td class="num" data-live="limiter:{{address}}:{{name}}">{{inUse}}</td><td class="num">{{limit}}</td><td class="num">{{saturation}}</td></tr>
        {{/limiters}}
        </tbody>
        </table>
        </section>
        <section>
        <details id="settings-details">
        <summary><h2>Limits configured</h2> <span class="muted">(each component's WHARF_* limits and timeouts)</span></summary>
        <table id="settings">
        <thead><tr><th>Component</th><th>Setting</th><th>Value</th></tr></thead>
        <tbody>
        {{#settings}}<tr><td>{{component}}</td><td class="mono">{{name}}</td><td class="mono">{{value}}</td></tr>
        {{/settings}}
        </tbody>
        </table>
        </details>
        </section>
        {{/body}}{{/layout}}
        """
}
