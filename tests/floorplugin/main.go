// Command floor-plugin is the smallest useful Kong Go plugin: the "protocol
// floor" the real oauth2-password plugin is measured against, and the test
// subject of package konghost.
//
// With its default config its access handler makes exactly four PDK round
// trips, the ones any bearer-token plugin needs (kong/PROTOCOL.md §5):
// kong.request.get_path, kong.request.get_header("authorization"),
// kong.client.authenticate and kong.service.request.set_headers (seven headers
// in one call). Optional config fields switch on the paths konghost must
// handle like Kong: an early kong.response.exit and an arbitrary extra PDK
// method (unknown or not allowed in access).
//
// Started with -issue-database-url it is instead the issuance floor
// (issue.go): every request gets the PDK calls of the real plugin's token
// endpoint and the same INSERT, without any OAuth logic. It is a start flag,
// like the real plugin's -database-url, so that the config schema (which
// konghost's tests check) stays the four fields above.
package main

import (
	"log"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/client"
	"github.com/Kong/go-pdk/entities"
	"github.com/Kong/go-pdk/server"
	"github.com/oauth2-password/oauth2-password/store"
)

// Config is the plugin's config as Kong sends it in cmd_start_instance. The
// json tags are the schema field names (kong/PROTOCOL.md §2).
type Config struct {
	// ConsumerID is the consumer reported to kong.client.authenticate.
	ConsumerID string `json:"consumer_id"`
	// RequireAuth makes a request without an Authorization header end with
	// kong.response.exit(ExitStatus) instead of being authenticated.
	RequireAuth bool `json:"require_auth"`
	// ExitStatus is the status of that exit; 0 means 401.
	ExitStatus int `json:"exit_status"`
	// Probe, when set, is a PDK method name called (with no arguments)
	// after the two reads; if the call fails the handler returns.
	Probe string `json:"probe"`
}

// New is the constructor go-pdk calls once per instance.
func New() interface{} { return &Config{} }

// Access is the only phase handler, so the -dump Phases list is ["access"].
func (c *Config) Access(kong *pdk.PDK) {
	path, err := kong.Request.GetPath()
	if err != nil {
		return
	}
	if *issueURL != "" {
		issueToken(kong)
		return
	}
	auth, err := kong.Request.GetHeader("authorization")
	if err != nil {
		return
	}
	if c.Probe != "" {
		if err := kong.Nginx.Ask(c.Probe, nil, nil); err != nil {
			return
		}
	}
	if c.RequireAuth && auth == "" {
		status := c.ExitStatus
		if status == 0 {
			status = 401
		}
		// Kong never answers kong.response.exit and drops the connection,
		// so return at once (kong/PROTOCOL.md §6).
		kong.Response.Exit(status, []byte(`{"message":"Unauthorized"}`), map[string][]string{
			"Content-Type":     {"application/json"},
			"WWW-Authenticate": {`Bearer realm="floor"`},
		})
		return
	}

	consumerID := c.ConsumerID
	if consumerID == "" {
		consumerID = "6b1c1e5e-4e36-4d2b-9d39-2f1f3c1f0f00"
	}
	err = kong.Client.Authenticate(
		&entities.Consumer{Id: consumerID, Username: "floor-user"},
		&client.AuthenticatedCredential{Id: "floor-client", ConsumerId: consumerID},
	)
	if err != nil {
		return
	}

	authSeen := "no"
	if auth != "" {
		authSeen = "yes"
	}
	if err := kong.ServiceRequest.SetHeaders(map[string][]string{
		"X-Consumer-ID":           {consumerID},
		"X-Consumer-Username":     {"floor-user"},
		"X-Credential-Identifier": {"floor-client"},
		"X-Consumer-Custom-ID":    {}, // empty list: Kong removes the header
		"X-Anonymous-Consumer":    {},
		"X-Authenticated-Scope":   {""}, // Kong sends a single space
		"X-Floor-Request":         {path + " auth=" + authSeen},
	}); err != nil {
		log.Printf("set_headers: %v", err)
	}
}

func main() {
	// The collector setting the binary gives itself, so that the floor
	// differs from it in code, not in runtime settings.
	store.KeepHeapGoalAbove(store.MinHeapGoal)
	if err := server.StartServer(New, "0.1", 1400); err != nil {
		log.Fatal(err)
	}
}
