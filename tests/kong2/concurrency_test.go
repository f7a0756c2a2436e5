package kong2

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentRequests: Kong's workers send many events at once, each on
// its own connection, and go-pluginserver runs them side by side in one
// instance. Token requests and bearer validations in parallel all get
// their own, right answer: distinct tokens, each validating as its user.
func TestConcurrentRequests(t *testing.T) {
	h := kong2With(t, map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read"}})
	const workers, rounds = 8, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				user := fmt.Sprintf("user-%d-%d", w, i)
				form := passwordForm(provisionKey)
				form.Set("authenticated_userid", user)
				// t.Fatal must not run here: errors go to errs.
				r, err := h.Do(context.Background(), "api", tokenRequest(form))
				var tok struct {
					Access string `json:"access_token"`
				}
				if err != nil || r.Exit == nil || r.Status != 200 || json.Unmarshal(r.Exit.Body, &tok) != nil {
					errs <- fmt.Errorf("%s: token request: %v %+v", user, err, r)
					continue
				}
				access := tok.Access
				mu.Lock()
				dup := seen[access]
				seen[access] = true
				mu.Unlock()
				v, err := h.Do(context.Background(), "api", bearerRequest(access))
				if err != nil {
					errs <- err
					continue
				}
				if got := v.Upstream.Header["x-authenticated-userid"]; dup || !v.Proxied || len(got) != 1 || got[0] != user {
					errs <- fmt.Errorf("%s: duplicate token %v, proxied %v, upstream user %q", user, dup, v.Proxied, got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
