package plugin

import "fmt"

// anonymousConsumer lets a request without a valid token through as the
// configured anonymous consumer (logical OR, kong/BEHAVIOUR.md).
// The reference is looked up by id, then by username.
func (r *request) anonymousConsumer(ex extracted) error {
	c, found, _, err := r.e.consumers.load(r.cs, r.s.anonymous)
	if err != nil {
		return consumerErr(err)
	}
	if !found {
		msg := fmt.Sprintf("anonymous consumer %s is configured but doesn't exist", r.s.anonymous)
		r.e.logf("oauth2-password: %s", msg)
		r.d.Log = msg
		r.exitMessage(500, msg)
		return nil
	}
	r.d.Authenticate, r.d.Consumer, r.d.Anonymous = true, c, true
	r.applyUpstream(anonymousHeaders(c), ex)
	return nil
}
