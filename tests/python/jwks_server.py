"""An identity provider's JWKS endpoint for the OAUTHBEARER tests: serves the files of a
directory over HTTPS (Python's http.server and ssl), as Keycloak or Okta serve
`/.../certs`.

Usage: python jwks_server.py DIRECTORY CERT_PEM KEY_PEM. Prints `PORT <n>` once it
listens on 127.0.0.1, then one `GET <path>` line per request (and the status when it is not
200), so that
the test can count the broker's fetches. A file named `status` in the directory, holding
an HTTP status code, makes every answer that status with an empty body (the provider
failing).
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

    def log_message(self, format, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
