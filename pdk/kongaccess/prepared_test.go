package kongaccess

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// preparingPDK is Kong's front as pdk/kong.Adapter is: it prepares the
// upstream headers once (here: a copy) and counts how often.
type preparingPDK struct {
	*fakePDK
	prepared *int
}

func (p preparingPDK) PrepareUpstreamHeaders(h map[string][]string) any {
	*p.prepared++
	return maps.Clone(h)
}

func (p preparingPDK) SetPreparedUpstreamHeaders(v any) error {
	return p.SetUpstreamHeaders(v.(map[string][]string))
}

// TestPreparedUpstreamHeaders: the headers prepared once and kept with a
// token are exactly those the decision gives, request after request and
// service by service (hide_credentials clears the token, upstream_jwt sends
// a JWT), and they are prepared on the second request of a token, then
// reused.
func TestPreparedUpstreamHeaders(t *testing.T) {
	v := newKongEnv(t)
	tok := v.issue(v.config(""))
	bearer := func(f *fakePDK) *fakePDK {
		f.path = "/api"
		f.headers["authorization"] = []string{"Bearer " + tok}
		return f
	}
	for _, tc := range []struct {
		name  string
		extra string
		check func(h map[string][]string) bool
	}{
		{"plain", "", func(h map[string][]string) bool {
			_, auth := h["authorization"]
			return !auth && slices.Equal(h["X-Consumer-Username"], []string{testConsumer.Username})
		}},
		{"hide_credentials", `{"hide_credentials":true}`, func(h map[string][]string) bool {
			a, ok := h["authorization"]
			return ok && len(a) == 0
		}},
		{"upstream_jwt", `{"upstream_jwt":true}`, func(h map[string][]string) bool {
			a := h["authorization"]
			return len(a) == 1 && strings.Count(a[0], ".") == 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := v.config(tc.extra)
			ref := bearer(v.pdk())
			Access(c, ref) // unprepared: what the decision gives
			if ref.exited || !tc.check(ref.upstream) {
				t.Fatalf("unprepared: exited %v, headers %v", ref.exited, ref.upstream)
			}
			prepared := 0
			for i := range 4 {
				f := bearer(v.pdk())
				Access(c, preparingPDK{f, &prepared})
				if f.exited || !reflect.DeepEqual(f.upstream, ref.upstream) {
					t.Fatalf("request %d: exited %v, sent %v, want %v", i+1, f.exited, f.upstream, ref.upstream)
				}
			}
			// The reference request was the token's first on this
			// config; the first prepared one finds it seen before and
			// keeps its headers.
			if prepared != 1 {
				t.Errorf("prepared %d times in 4 requests, want once", prepared)
			}
		})
	}
}
