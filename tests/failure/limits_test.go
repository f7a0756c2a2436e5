package failure

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLimits: oversized and absurd requests through the real socket are
// refused with a 4xx and an RFC 6749/6750 error body, never a 500, and the
// plugin process survives them all.
func TestLimits(t *testing.T) {
	wallTime(t)
	s := newStack(t, harnessSQLite(t))
	gen := s.Host.Process().Generation()
	const capBytes = 64 << 10 // -max-body-bytes default

	form := func(body string) func() (*http.Request, error) {
		return func() (*http.Request, error) {
			r, err := http.NewRequest("POST", tokenURL+"?state=q", strings.NewReader(body))
			if r != nil {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			return r, err
		}
	}
	// padded is a valid password grant padded to exactly n bytes.
	padded := func(n int) string {
		b := s.passwordForm("u").Encode() + "&pad="
		return b + strings.Repeat("x", n-len(b))
	}
	many := func(n int, sep string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d=v%s", i, sep)
		}
		return b.String()
	}
	bigAuth := "Bearer " + strings.Repeat("A", 64<<10)
	// 1100 parts fit under the cap with a one-letter boundary.
	multi := func() (*http.Request, error) {
		part := "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n"
		body := strings.Repeat(part, 1100) + "--b--\r\n"
		r, err := http.NewRequest("POST", tokenURL+"?state=q", strings.NewReader(body))
		if r != nil {
			r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		}
		return r, err
	}

	for _, tc := range []struct {
		name       string
		req        func() (*http.Request, error)
		wantStatus int
		wantCode   string
		wantDesc   string // "" = any
		wantState  string // "" = not checked
	}{
		{"body at the cap", form(padded(capBytes)), 200, "", "", ""},
		{"body one byte over the cap", form(padded(capBytes + 1)), 400, "invalid_request", "Request body too large", "q"},
		{"2 MiB body", form(padded(2 << 20)), 400, "invalid_request", "Request body too large", "q"},
		{"64 KiB bearer header", func() (*http.Request, error) {
			r, err := http.NewRequest("GET", apiURL, nil)
			if r != nil {
				r.Header.Set("Authorization", bigAuth)
			}
			return r, err
		}, 401, "invalid_token", "", ""},
		{"64 KiB Basic header at the token endpoint", func() (*http.Request, error) {
			r, err := form("grant_type=password&state=q")()
			if r != nil {
				r.Header.Set("Authorization", "Basic "+strings.Repeat("QUJD", 16<<10))
			}
			return r, err
		}, 401, "invalid_client", "", "q"},
		{"500 headers", func() (*http.Request, error) {
			r, err := form(s.passwordForm("u").Encode() + "&client_secret=wrong")()
			for i := range 500 {
				r.Header.Add(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("j", 100))
			}
			return r, err
		}, 400, "", "", ""},
		{"5000 query parameters", func() (*http.Request, error) {
			return http.NewRequest("POST", tokenURL+"?"+many(5000, "&")+"state=q", nil)
		}, 400, "invalid_request", "Too many parameters", ""},
		{"5000 form parameters", form(many(5000, "&") + "state=b"), 400, "invalid_request", "Too many parameters", "q"},
		{"1100 multipart parts", multi, 400, "invalid_request", "Too many parameters", "q"},
		{"60 KiB state", form(s.passwordForm("u").Encode() + "&client_secret=wrong&state=" + strings.Repeat("s", 60<<10)),
			400, "invalid_client", "", strings.Repeat("s", 60<<10)},
		{"NUL and invalid UTF-8 in parameters", form("grant_type=password&client_id=%00%ff&client_secret=\xff\xfe&provision_key=%00&state=%ff%00"),
			400, "invalid_client", "", "\ufffd\x00"},
		{"NUL in a JSON body", func() (*http.Request, error) {
			r, err := http.NewRequest("POST", tokenURL, strings.NewReader(`{"grant_type":"password","client_id":"a\u0000b","state":"\u0000"}`))
			if r != nil {
				r.Header.Set("Content-Type", "application/json")
			}
			return r, err
		}, 400, "invalid_client", "", "\x00"},
		{"deeply nested JSON", func() (*http.Request, error) {
			r, err := http.NewRequest("POST", tokenURL+"?state=q", strings.NewReader(`{"a":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`))
			if r != nil {
				r.Header.Set("Content-Type", "application/json")
			}
			return r, err
		}, 400, "", "", "q"},
		{"invalid percent escapes", form("grant_type=password&%zz=%&client_id=%e2%82&state=%"), 400, "invalid_client", "", "%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := tc.req()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantStatus == 200 {
				tr, err := decodeTokenResp(resp)
				if err != nil || tr.Status != 200 || tr.AccessToken == "" {
					t.Fatalf("got %+v %v, want a token", tr, err)
				}
				return
			}
			m, err := errorBody(resp)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d %v, want %d", resp.StatusCode, m, tc.wantStatus)
			}
			if tc.wantCode != "" && m["error"] != tc.wantCode {
				t.Errorf("error %v, want %q", m["error"], tc.wantCode)
			}
			if tc.wantDesc != "" && m["error_description"] != tc.wantDesc {
				t.Errorf("error_description %v, want %q", m["error_description"], tc.wantDesc)
			}
			if tc.wantState != "" && m["state"] != tc.wantState {
				t.Errorf("state %.40q, want %.40q", m["state"], tc.wantState)
			}
		})
	}
	noCrash(t, s, gen)
}
