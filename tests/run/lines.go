package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Markers around the lines to paste; the test of `make run` runs what is
// between them.
const (
	beginLines = "----8<---- paste into a shell in "
	endLines   = "---->8---- Ctrl-C stops serve and the gateway"
)

// printLines prints the curl lines that exercise the running setup. The
// secrets stay in client.env (0600): the lines read them from there.
func printLines(w io.Writer, s *setup, serveURL, gatewayURL string) {
	header := fmt.Sprintf("oauth2-password serve: %s (service \"orders\", embedded store in %s)\n"+
		"demo gateway:          %s (forward auth to serve, then an API that echoes the request)",
		serveURL, relPath(filepath.Dir(s.config)), gatewayURL)
	curl := "curl -s --cacert " + relPath(s.cert) + " "
	printLinesVia(w, s, header, serveURL+"/services/orders/oauth2", gatewayURL, curl, "")
}

// printLinesVia prints the lines for a token endpoint and a protected
// gateway; curl is the command (with its trust) for the token endpoint,
// gwTrust curl's options to trust the gateway's certificate, if any.
func printLinesVia(w io.Writer, s *setup, header, endpoint, gatewayURL, curl, gwTrust string) {
	wd, _ := os.Getwd()
	fields := `ACCESS_TOKEN=$(echo "$TOKEN_JSON" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'); REFRESH_TOKEN=$(echo "$TOKEN_JSON" | sed -E 's/.*"refresh_token":"([^"]+)".*/\1/')`
	fmt.Fprintf(w, `
%s

%s%s
. %s    # CLIENT_ID, CLIENT_SECRET, PROVISION_KEY of the example client
# 1. Your login backend gets a token for a user it has authenticated (password grant):
TOKEN_JSON=$(%s%s/token -d grant_type=password -d provision_key="$PROVISION_KEY" -d authenticated_userid=user-4711 -d scope=orders.read -d client_id="$CLIENT_ID" -d client_secret="$CLIENT_SECRET"); echo "$TOKEN_JSON"
%s
# 2. The app calls a protected route through the gateway (the API shows the X-Consumer-* and X-Authenticated-* headers it got):
curl -s%s %s/orders/1 -H "Authorization: Bearer $ACCESS_TOKEN"; echo
# 3. Refresh (RFC 6749 §6): a new pair; the old one stops working:
TOKEN_JSON=$(%s%s/token -d grant_type=refresh_token -d refresh_token="$REFRESH_TOKEN" -d client_id="$CLIENT_ID" -d client_secret="$CLIENT_SECRET"); echo "$TOKEN_JSON"
%s
# 4. Revoke the grant (RFC 7009), then the protected route answers 401:
%s-u "$CLIENT_ID:$CLIENT_SECRET" %s/revoke -d token="$REFRESH_TOKEN" -d token_type_hint=refresh_token -o /dev/null -w 'revoke: %%{http_code}\n'
curl -si%s %s/orders/1 -H "Authorization: Bearer $ACCESS_TOKEN"; echo
%s
`, header,
		beginLines, wd, relPath(s.envFile),
		curl, endpoint, fields,
		gwTrust, gatewayURL,
		curl, endpoint, fields,
		curl, endpoint,
		gwTrust, gatewayURL,
		endLines)
}

// relPath is p relative to the working directory when it is below it.
func relPath(p string) string {
	wd, _ := os.Getwd()
	abs, _ := filepath.Abs(p)
	if r, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return abs
}
