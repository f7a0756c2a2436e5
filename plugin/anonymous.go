package plugin

import "fmt"

// anonymousConsumer lets a request without a valid token through as the
// configured anonymous consumer (logical OR, kong-oauth2-behaviour.md §4.5).
// The reference is looked up by id, then by username.
func (r *request) anonymousConsumer(ex extracted) error {
	c, found, _, err := r.e.consumers.load(r.k, r.s.anonymous)
	if err != nil {
		return kongErr("load consumer", err)
	}
	if !found {
		msg := fmt.Sprintf("anonymous consumer %s is configured but doesn't exist", r.s.anonymous)
		r.e.logf("oauth2-password: %s", msg)
		r.k.LogErr(msg)
		r.exitMessage(500, msg)
		return nil
	}
	if err := r.k.Authenticate(c, nil); err != nil {
		return kongErr("authenticate", err)
	}
	return r.applyUpstream(anonymousHeaders(c), ex)
}
