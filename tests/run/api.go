package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// echoAPI is the protected API of `make run`: it answers with the request
// it got, so the identity headers the gateway added can be seen.
func echoAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := map[string]string{}
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			headers[strings.ToLower(k)] = strings.Join(r.Header[k], ", ")
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"api": "orders (echo)", "method": r.Method, "path": r.URL.Path, "headers": headers})
	})
}
