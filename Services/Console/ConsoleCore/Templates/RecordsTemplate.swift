/// The Records page and one record's page.
enum RecordsTemplate {
    static let page = """
        {{<layout}}{{$body}}
        <div class="tiles">
        <div class="tile"><div class="label">Records</div><div class="value" id="record-count" data-live="records">{{records}}</div></div>
        <div class="tile"><div class="label">Signed</div><div class="value" id="signature-count" data-live="signatures">{{signatures}}</div></div>
        <div class="tile"><div class="label">Public keys</div><div class="value">{{publicKeys}}</div></div>
        <div class="tile"><div class="label">Stored</div><div class="value">{{bytes}}</div></div>
        </div>
        <section>
        <h2>Search</h2>
        <form class="filters" method="get" action="/records" id="search">
        <label>Skills and locators (skill:… locator:…; a bare word is a skill) <input name="q" id="search-query" value="{{query}}" size="60"></label>
        <button type="submit">Search</button>
        </form>
        {{#searched}}
        <h2>Results (<span id="result-count">{{resultCount}}</span>)</h2>
        <table id="results">
        <thead><tr><th>Record</th><th class="num">Score</th><th>Matched</th><th>Peer</th></tr></thead>
        <tbody>
        {{#results}}<tr data-result="{{cid}}"><td class="mono"><a href="/records/{{cid}}">{{cid}}</a></td><td class="num">{{score}}</td><td>{{matched}}</td><td class="mono">{{peer}}</td></tr>
        {{/results}}
        </tbody>
        </table>
        {{/searched}}
        </section>
        <section>
        <h2>Latest pushes</h2>
        <table id="recent">
        <thead><tr><th>Record</th><th>Name</th><th>Version</th><th>Schema</th><th>Pushed</th><th>Signature</th></tr></thead>
        <tbody>
        {{#recent}}<tr data-cid="{{cid}}"><td class="mono"><a href="/records/{{cid}}">{{cid}}</a></td><td>{{name}}</td><td>{{version}}</td><td>{{schema}}</td><td>{{pushed}}</td><td>{{signed}}</td></tr>
        {{/recent}}
        </tbody>
        </table>
        </section>
        {{/body}}{{/layout}}
        """

    static let record = """
        {{<layout}}{{$body}}
        <section>
        <h2 class="mono" id="record-cid">{{cid}}</h2>
        {{#name}}<p>Name: <strong id="record-name">{{name}}</strong></p>{{/name}}
        {{#signature}}
        <h2>Signature</h2>
        <table id="signature">
        <tr><th>Algorithm</th><td>{{algorithm}}</td></tr>
        <tr><th>Signed at</th><td>{{signedAt}}</td></tr>
        <tr><th>Content type</th><td>{{contentType}}</td></tr>
        <tr><th>Signature</th><td class="mono" id="signature-value">{{value}}</td></tr>
        {{#payload}}<tr><th>Signed payload</th><td class="mono" id="signature-payload">{{payload}}</td></tr>{{/payload}}
        {{#certificate}}<tr><th>Certificate</th><td><pre>{{certificate}}</pre></td></tr>{{/certificate}}
        </table>
        {{/signature}}
        {{^signature}}<p class="muted" id="unsigned">No signature is stored for this record.</p>{{/signature}}
        {{#publicKey}}<h2>Public key</h2><pre id="public-key">{{publicKey}}</pre>{{/publicKey}}
        <h2>Record</h2>
        <pre id="record-json">{{json}}</pre>
        </section>
        {{/body}}{{/layout}}
        """
}
