package store

import (
	"strings"
	"testing"

	"github.com/lib/pq"
)

// TestNormalizePostgresURL: the comma form users copy from libpq's and
// the failover managers' documentation reaches lib/pq as the host list it
// means; what cannot be rewritten is refused with the working form, and
// no error shows the password.
func TestNormalizePostgresURL(t *testing.T) {
	type hp struct {
		host string
		port uint16
	}
	tests := []struct {
		name    string
		in      string
		want    []hp   // hosts lib/pq will try, in order
		tsa     string // target_session_attrs kept
		wantErr string
	}{
		{"single host unchanged", "postgres://u:secret@db:5433/x?sslmode=disable", []hp{{"db", 5433}}, "", ""},
		{"query form unchanged", "postgres://u:secret@/x?host=a,b&port=5432,5433&target_session_attrs=read-write", []hp{{"a", 5432}, {"b", 5433}}, "read-write", ""},
		{"comma form", "postgres://u:secret@a:5432,b:5433/x?target_session_attrs=read-write", []hp{{"a", 5432}, {"b", 5433}}, "read-write", ""},
		{"comma form, default port", "postgresql://u@a,b:6000/x", []hp{{"a", 5432}, {"b", 6000}}, "read-write", ""},
		{"query form: the primary by default", "postgres://u@/x?host=a,b", []hp{{"a", 5432}, {"b", 5432}}, "read-write", ""},
		{"query form: any kept", "postgres://u@/x?host=a,b&target_session_attrs=any", []hp{{"a", 5432}, {"b", 5432}}, "any", ""},
		{"comma form, IPv6", "postgres://u@[::1]:5432,127.0.0.1:5433/x?target_session_attrs=primary", []hp{{"::1", 5432}, {"127.0.0.1", 5433}}, "primary", ""},
		{"three hosts", "postgres://u@n1:5432,n2:5432,n3:5432/x", []hp{{"n1", 5432}, {"n2", 5432}, {"n3", 5432}}, "read-write", ""},
		{"hosts twice", "postgres://u:secret@a:5432,b:5433/x?host=c", nil, "", "both before the path and in host="},
		{"empty entry", "postgres://u:secret@a:5432,,b/x", nil, "", "empty host"},
		{"bad port", "postgres://u:secret@a:5432,b:x1/x", nil, "", "not a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizePostgresURL(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				for _, want := range []string{"?host=HOST1,HOST2&port=PORT1,PORT2"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not show the working form %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the password: %v", err)
				}
				if CheckURL(tc.in) == nil {
					t.Error("CheckURL accepts it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if CheckURL(tc.in) != nil {
				t.Errorf("CheckURL refuses it: %v", CheckURL(tc.in))
			}
			cfg, err := pq.NewConfig(got)
			if err != nil {
				t.Fatalf("lib/pq refuses the rewritten %q: %v", got, err)
			}
			hosts := []hp{{cfg.Host, cfg.Port}}
			for _, m := range cfg.Multi {
				hosts = append(hosts, hp{m.Host, m.Port})
			}
			if len(hosts) != len(tc.want) {
				t.Fatalf("%q: lib/pq tries %v, want %v", got, hosts, tc.want)
			}
			for i := range hosts {
				if hosts[i] != tc.want[i] {
					t.Fatalf("%q: lib/pq tries %v, want %v", got, hosts, tc.want)
				}
			}
			if string(cfg.TargetSessionAttrs) != tc.tsa && !(tc.tsa == "" && cfg.TargetSessionAttrs == pq.TargetSessionAttrsAny) {
				t.Errorf("target_session_attrs %q, want %q", cfg.TargetSessionAttrs, tc.tsa)
			}
			if strings.Contains(tc.in, "secret") && cfg.Password != "secret" {
				t.Errorf("password lost in %q", got)
			}
		})
	}
}
