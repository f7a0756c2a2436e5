package httpfront

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestForwardedIP: the address throttling keys on. From a trusted peer it
// is the right-most X-Forwarded-For hop that is not trusted; from any
// other peer the peer itself, whatever the client wrote.
func TestForwardedIP(t *testing.T) {
	trusted := Trusted{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer: its own address", "192.0.2.7:1234", []string{"203.0.113.9"}, "192.0.2.7"},
		{"trusted peer, one hop", "127.0.0.1:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer, no header", "127.0.0.1:1234", nil, "127.0.0.1"},
		{"client's own hops left of the proxy's are ignored", "127.0.0.1:1", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops are skipped", "127.0.0.1:1", []string{"203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"repeated headers in order", "127.0.0.1:1", []string{"198.51.100.1", "203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"every hop trusted: the left-most", "127.0.0.1:1", []string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{"garbage stops the walk at the trusted hop right of it", "127.0.0.1:1", []string{"evil, 10.1.2.3"}, "10.1.2.3"},
		{"hop with a port", "127.0.0.1:1", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 hop with a port", "[::1]:1", []string{"[2001:db8::5]:4711"}, "2001:db8::5"},
		{"IPv4-mapped hop", "127.0.0.1:1", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			q := &request{r: r, trusted: trusted}
			if got, _ := q.ForwardedIP(); got != tt.want {
				t.Errorf("ForwardedIP = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHeaderIsGet: the engine's header lookup answers exactly as
// http.Header.Get for any spelling of a name, including names net/http
// keeps as they came (not tokens) and names too long for the stack
// buffer, and a lower-case name costs no allocation.
func TestHeaderIsGet(t *testing.T) {
	long := strings.Repeat("x-long-", 12) + "name"
	raw := "GET / HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer abc\r\nX-Api_Key: k1\r\nX-Weird.Name~1: w\r\n" +
		long + ": l\r\nContent-Type: text/plain\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	q := &request{r: r}
	for _, name := range []string{"authorization", "AUTHORIZATION", "Authorization", "aUTHORIZATIOn",
		"x-api_key", "X-API_KEY", "x-weird.name~1", long, strings.ToUpper(long), "content-type",
		"x-missing", "", "bad name", "x-ünicode", "-authorization"} {
		got, _ := q.Header(name)
		if want := r.Header.Get(name); got != want {
			t.Errorf("Header(%q) = %q, want %q (http.Header.Get)", name, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = q.Header("authorization") }); n != 0 {
		t.Errorf("Header(\"authorization\") allocates %v times", n)
	}
}
