"""An upstream that verifies the JWT of every request with PyJWT.

Usage: upstream.py JWKS_URL ISSUER AUDIENCE

It listens on a free loopback port and prints the port on stdout. Every
request is verified with the lines of docs/upstream-jwt.md's Python
snippet (TestPythonUpstream checks that they are the same lines): 200 with
the claims the upstream trusts, or 401 with why not. Either way the answer
says which Authorization header the upstream got ("seen"), so that a test
can tell that a client's own JWT never arrived.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

JWKS_URL, ISSUER, AUDIENCE = sys.argv[1:4]


class Denied(Exception):
    pass


def deny():
    raise Denied("typ is not at+jwt")


# One client for the process: it caches the JWKS and fetches it again for
# an unknown kid (a key just rotated in).
jwks = jwt.PyJWKClient(JWKS_URL)  # caches keys, refetches an unknown kid


def verify(request):
    token = request.headers["Authorization"].removeprefix("Bearer ")
    key = jwks.get_signing_key_from_jwt(token)
    if jwt.get_unverified_header(token).get("typ") != "at+jwt": deny()
    claims = jwt.decode(token, key.key, algorithms=["EdDSA", "ES256"],
                        issuer=ISSUER, audience=AUDIENCE,
                        options={"require": ["exp", "iss", "aud", "sub"]})
    return claims, jwt.get_unverified_header(token)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        answer = {"seen": self.headers.get("Authorization")}
        try:
            answer["claims"], answer["header"] = verify(self)
            status = 200
        except Exception as e:  # any failure: the upstream refuses
            answer["error"] = "%s: %s" % (type(e).__name__, e)
            status = 401
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream.py: " + (fmt % args) + "\n")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
