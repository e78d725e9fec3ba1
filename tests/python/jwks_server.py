"""An identity provider's JWKS endpoint for the OAUTHBEARER tests: serves the files of a
directory over HTTPS (Python's http.server and ssl), as Keycloak or Okta serve
`/.../certs`.

Usage: python jwks_server.py DIRECTORY CERT_PEM KEY_PEM. Prints `PORT <n>` once it
listens on 127.0.0.1, then one `GET <path>` line per request (and the status when it is not
200), so that
the test can count the broker's fetches. A file named `status` in the directory, holding
an HTTP status code, makes every GET's answer that status with an empty body (the provider
failing). A POST is the provider's token endpoint: it answers with `token.json`.
"""

import http.server
import os
import ssl
import sys

DIRECTORY, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=DIRECTORY, **kwargs)

    def do_GET(self):
        status_file = os.path.join(DIRECTORY, "status")
        if os.path.exists(status_file):
            with open(status_file) as f:
                status = int(f.read().strip())
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            print(f"GET {self.path} {status}", flush=True)
            return
        super().do_GET()
        print(f"GET {self.path}", flush=True)

    def do_POST(self):
        # The token endpoint (OAuth client credentials): the token in `token.json`, for a
        # client that sends an id and a secret (HTTP Basic, RFC 6749 section 2.3.1).
        length = int(self.headers.get("Content-Length", "0"))
        form = self.rfile.read(length).decode()
        ok = "grant_type=client_credentials" in form and self.headers.get(
            "Authorization", ""
        ).startswith("Basic ")
        path = os.path.join(DIRECTORY, "token.json")
        if not ok or not os.path.exists(path):
            self.send_response(400 if not ok else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            print(f"POST {self.path} {400 if not ok else 404}", flush=True)
            return
        with open(path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print(f"POST {self.path}", flush=True)

    def log_message(self, format, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
