#!/usr/bin/env python3
"""A stock Python client of the standard password grant (RFC 6749 §4.3):
requests-oauthlib's LegacyApplicationClient, used as its documentation
shows and not modified. Run by TestStandardPasswordGrantPython.

Arguments come in the environment (TOKEN_URL, API_URL, CLIENT_ID,
CLIENT_SECRET, USERNAME, PASSWORD, SCOPE, CA_FILE). Prints one JSON object:
the first token, what the API saw with it, the refreshed token and what
the API saw with that one.
"""
import json
import os
import sys

from oauthlib.oauth2 import LegacyApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session


def main():
    env = os.environ
    client_id, secret = env["CLIENT_ID"], env["CLIENT_SECRET"]
    ca = env["CA_FILE"]
    scope = env["SCOPE"].split()
    session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id, scope=scope), scope=scope)
    session.trust_env = False  # no proxy from the environment: the test talks to loopback
    first = session.fetch_token(token_url=env["TOKEN_URL"], username=env["USERNAME"],
                                password=env["PASSWORD"], client_id=client_id,
                                client_secret=secret, verify=ca)
    seen_first = session.get(env["API_URL"], verify=ca).json()

    refreshed = session.refresh_token(env["TOKEN_URL"], refresh_token=first["refresh_token"],
                                      auth=HTTPBasicAuth(client_id, secret), verify=ca)
    seen_refreshed = session.get(env["API_URL"], verify=ca).json()

    json.dump({
        "first": {"access_token": first["access_token"], "refresh_token": first["refresh_token"]},
        "seen_first": seen_first["headers"],
        "refreshed": {"access_token": refreshed["access_token"], "refresh_token": refreshed["refresh_token"]},
        "seen_refreshed": seen_refreshed["headers"],
    }, sys.stdout)


if __name__ == "__main__":
    main()
