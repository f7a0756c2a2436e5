package envoy

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/proto"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestCheckRememberedAnswer: the answer kept with a token (Check's memo)
// is the one the engine's decision gives, request after request; a
// request whose upstream changes differ (the token in the query under
// hide_credentials) gets its own; and a revoked token is refused at once,
// its kept answer gone with it.
func TestCheckRememberedAnswer(t *testing.T) {
	s, cached := newTestServerStore(t, map[string]map[string]any{
		"hidden": {"provision_key": "pk-hidden-0123456789", "hide_credentials": true},
	})
	ctx := context.Background()
	check := func(t *testing.T, req *authv3.CheckRequest) *authv3.CheckResponse {
		t.Helper()
		resp, err := s.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	inHeader := checkOf("hidden", map[string]string{"authorization": "Bearer " + tokenOf("hidden")}, false)
	inQuery := checkOf("hidden", map[string]string{}, false)
	inQuery.Attributes.Request.Http.Path = "/things?access_token=" + tokenOf("hidden") + "&page=1"

	first := check(t, inHeader)
	if code.Code(first.GetStatus().GetCode()) != code.Code_OK ||
		!slices.Contains(first.GetOkResponse().GetHeadersToRemove(), "authorization") {
		t.Fatalf("first Check: %v", first)
	}
	for i := range 3 {
		if got := check(t, inHeader); !proto.Equal(sorted(got), sorted(first)) {
			t.Fatalf("Check %d answered %v, first %v", i+2, got, first)
		}
		// The same token from the query: its own answer, never the one
		// kept for the header (which removes the auth header instead of
		// the query argument).
		q := check(t, inQuery).GetOkResponse()
		if slices.Contains(q.GetHeadersToRemove(), "authorization") ||
			!slices.Equal(q.GetQueryParametersToRemove(), []string{"access_token"}) {
			t.Fatalf("token in the query answered %v", q)
		}
	}

	digest := store.DigestOf(tokenOf("hidden"))
	if _, err := cached.Revoke(ctx, store.Revocation{Access: &digest}); err != nil {
		t.Fatal(err)
	}
	if got := check(t, inHeader); code.Code(got.GetStatus().GetCode()) != code.Code_UNAUTHENTICATED {
		t.Fatalf("a revoked token: %v", got)
	}
}

// sorted is resp with its headers in name order: the engine's are a map,
// so two answers built for the same decision may list them differently.
func sorted(resp *authv3.CheckResponse) *authv3.CheckResponse {
	c := proto.Clone(resp).(*authv3.CheckResponse)
	if ok := c.GetOkResponse(); ok != nil {
		slices.SortFunc(ok.Headers, func(a, b *corev3.HeaderValueOption) int {
			return strings.Compare(a.GetHeader().GetKey(), b.GetHeader().GetKey())
		})
		slices.Sort(ok.HeadersToRemove)
	}
	return c
}
