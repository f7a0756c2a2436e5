package kong

import (
	"testing"

	"github.com/Kong/go-pdk/bridge"
	"google.golang.org/protobuf/proto"
)

// What encoding set_headers' argument costs per request: go-pdk's way
// (SetHeaders: a structpb.Struct built and marshalled on every call)
// against the argument prepared once (PrepareUpstreamHeaders), which a
// request of a token seen before only marshals (a copy of its bytes).
func benchHeaders() map[string][]string {
	return map[string][]string{"X-Consumer-ID": {"4b1a6ad4-0000-4000-8000-000000000002"}, "X-Consumer-Username": {"bob"},
		"X-Credential-Identifier": {"zXu3cXFVFiy6F9EhL8GEidRnV86hs8Po"}, "X-Authenticated-Userid": {"user-1"},
		"X-Consumer-Custom-ID": {}, "X-Anonymous-Consumer": {}, "X-Authenticated-Scope": {}}
}

func BenchmarkSetHeadersArgGoPDK(b *testing.B) {
	h := benchHeaders()
	for b.Loop() {
		st, err := bridge.WrapHeaders(h)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetHeadersArgPrepared(b *testing.B) {
	p := Adapter{}.PrepareUpstreamHeaders(benchHeaders()).(preparedHeaders)
	for b.Loop() {
		if _, err := proto.Marshal(p.msg); err != nil {
			b.Fatal(err)
		}
	}
}
