"""A hostile OCI registry for the sync's tag-list client: `python3 hostile_registry.py PORT MODE`.
MODE long-tag: one page holding a tag of 300 bytes. endless: every page links to the next, for ever.
slow: every page waits 1 s before answering (with a link to the next)."""
import http.server, json, sys, time

mode = sys.argv[2]

class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: the connection closes as soon as the answer is sent (the client must cope).
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        if mode == "long-tag":
            body = json.dumps({"name": "dir", "tags": ["x" * 300]}).encode()
            link = None
        else:
            if mode == "slow":
                time.sleep(1)
            body = json.dumps({"name": "dir", "tags": []}).encode()
            link = '</v2/dir/tags/list?n=10&last=%d>; rel="next"' % time.monotonic_ns()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
