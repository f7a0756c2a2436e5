package plugin

import (
	"fmt"
	"log/slog"
)

// anonymousConsumer lets a request without a valid token through as the
// configured anonymous consumer (logical OR, kong/BEHAVIOUR.md).
// The reference is looked up by id, then by username.
func (r *request) anonymousConsumer(ex extracted) error {
	c, found, _, err := r.e.consumers.load(r.cs, r.s.workspaceID, r.s.anonymous)
	if err != nil {
		return consumerErr(err)
	}
	if !found {
		msg := fmt.Sprintf("anonymous consumer %s is configured but doesn't exist", r.s.anonymous)
		r.log(slog.LevelError, msgNoAnonymous, slog.String("anonymous", r.s.anonymous))
		r.d.Log = msg
		r.d.Outcome = OutcomeConfigError
		r.exitMessage(500, msg)
		return nil
	}
	r.d.Authenticate, r.d.Consumer, r.d.Anonymous = true, c, true
	r.d.Outcome = OutcomeAnonymous
	r.applyUpstream(anonymousHeaders(c), ex)
	return nil
}
