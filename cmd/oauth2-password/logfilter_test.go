package main

import (
	"bytes"
	"log"
	"testing"
)

// TestQuietLog: the benign connection-end lines of go-pdk are dropped; any
// other line, including other go-pdk errors, reaches the log.
func TestQuietLog(t *testing.T) {
	tests := []struct {
		msg  string
		kept bool
	}{
		{"EOF", false},
		{"write unix /usr/local/kong/oauth2-password.socket->@: use of closed network connection", false},
		{"no plugin instance 5", true},
		{"oauth2-password: token store: storing a token: connection refused", true},
		{"unexpected EOF in the middle", true},
		{"closed instance 7", true},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		l := log.New(quietLog{&buf}, "", log.LstdFlags)
		l.Print(tc.msg)
		if got := buf.Len() > 0; got != tc.kept {
			t.Errorf("%q: kept = %v, want %v (log %q)", tc.msg, got, tc.kept, buf.String())
		}
	}
}
