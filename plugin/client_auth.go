package plugin

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// clientCredentials are the client id and secret a token request presents.
type clientCredentials struct {
	id         string
	secret     any  // nil when absent; a non-string when the body sent one
	fromHeader bool // the Basic header was used: failures are 401 (RFC 6749 §2.3.1, §5.2)
	// idMaybeSecret: a Basic value without ':' is all client_id to Kong,
	// but a client that meant "id:secret" and got it wrong may have sent
	// its secret alone; such an id is never logged.
	idMaybeSecret bool
}

// logged is the client_id to log for cc: "" when it may be a secret.
func (cc clientCredentials) logged() string {
	if cc.idMaybeSecret {
		return ""
	}
	return cc.id
}

// basicRe is Kong's unanchored `\s*[Bb]asic\s*(.+)`.
var basicRe = regexp.MustCompile(`[Bb]asic\s*(.+)`)

// extractClientCredentials follows kong/BEHAVIOUR.md:
//  1. client_id and client_secret both in the parameters;
//  2. else HTTP Basic in the auth header (a parameter client_id alone is
//     then ignored);
//  3. else client_id alone (public clients).
func extractClientCredentials(p params, authHeader []string) clientCredentials {
	id, hasID := p["client_id"]
	secret, hasSecret := p["client_secret"]
	if hasID && hasSecret && id != false && secret != false {
		s, _ := id.(string)
		return clientCredentials{id: s, secret: secret}
	}
	if len(authHeader) > 0 {
		cc := clientCredentials{fromHeader: true}
		m := basicRe.FindStringSubmatch(authHeader[0])
		if m == nil {
			return cc
		}
		raw, err := decodeBase64(m[1])
		if err != nil {
			return cc
		}
		uid, sec, hasColon := strings.Cut(string(raw), ":")
		cc.id = uid
		if hasColon {
			cc.secret = sec
		} else {
			cc.idMaybeSecret = true
		}
		return cc
	}
	// Only the id: a client_secret that did not qualify for step 1 (a JSON
	// false) is not presented at all.
	s, _ := id.(string)
	return clientCredentials{id: s}
}

// decodeBase64 is nginx's ngx_decode_base64, which Kong's
// ngx.decode_base64 calls: the standard alphabet up to the first "=" (the
// rest is ignored, so padding is optional), any other byte is an error,
// and so is a length of 4n+1.
func decodeBase64(s string) ([]byte, error) {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if strings.ContainsAny(s, "\r\n") { // Go skips them; nginx refuses them
		return nil, base64.CorruptInputError(strings.IndexAny(s, "\r\n"))
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// clientAuthError is invalid_client, 401 when the Basic header was used
// (RFC 6749 §5.2), else 400 like Kong.
func clientAuthError(fromHeader bool) *Error {
	if fromHeader {
		return ErrInvalidClient.WithStatus(401)
	}
	return ErrInvalidClient
}

// errUnavailable marks a store failure: answered 503.
var errUnavailable = errors.New("token store unavailable")

// lookupClient loads the client. found is false for an unknown client or
// an id no client can have: empty, not UTF-8 or holding a NUL (PostgreSQL
// text holds neither, and refuses the query with SQLSTATE 22021, which
// would be answered as the store failing); err is errUnavailable when the
// store failed.
func (r *request) lookupClient(id string) (oauth.Client, bool, error) {
	if id == "" || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return oauth.Client{}, false, nil
	}
	if m, ok := r.e.opt.Store.(CachedLookup); ok {
		if c, ok := m.CachedClient(id); ok {
			return c, true, nil
		}
	}
	// A client_id carries no check value: one not cached (nor found
	// before) is looked up within the address's budget
	// (unknown_budget.go), and past it answered as an unknown client.
	ticket, err := r.takeClientLookup(id)
	switch {
	case errors.Is(err, errOverBudget):
		return oauth.Client{}, false, nil
	case err != nil:
		return oauth.Client{}, false, err
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	defer cancel()
	c, err := r.e.opt.Store.Client(ctx, id)
	r.settle(ticket, err == nil)
	switch {
	case err == nil:
		return c, true, nil
	case errors.Is(err, oauth.ErrNotFound):
		return oauth.Client{}, false, nil
	default:
		r.logStoreFailed("loading a client", err)
		return oauth.Client{}, false, errUnavailable
	}
}

// authenticateClient checks the presented secret (kong/BEHAVIOUR.md
// §3.4 step 5). The secret is compared as a SHA-256 digest in constant
// time (a short secret against its slow hash, see package clientsecret);
// for an unknown client it is hashed all the same so that timing does not
// tell whether a client_id exists.
func authenticateClient(c oauth.Client, found bool, cc clientCredentials) *Error {
	secret, isString := cc.secret.(string)
	presented := oauth.DigestOf(secret)
	if !found {
		var zero oauth.Digest
		_ = presented.Equal(zero)
		return clientAuthError(cc.fromHeader)
	}
	if c.Type == oauth.Public {
		// A public client has no secret to check; sending one is a client
		// bug worth reporting (Kong: always 400).
		if cc.secret != nil && (!isString || strings.TrimFunc(secret, isLuaSpace) != "") {
			return ErrInvalidRequest.WithDescription(descPublicSecret)
		}
		return nil
	}
	ok := clientsecret.Verify(c, secret, presented)
	if !isString || !ok {
		return clientAuthError(cc.fromHeader)
	}
	return nil
}
