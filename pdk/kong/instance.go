package kong

import (
	gopdk "github.com/Kong/go-pdk"

	"github.com/oauth2-password/oauth2-password/pdk/kongaccess"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// Instance is what go-pdk creates for each plugin configuration Kong starts.
// It has plugin.Config's fields, so go-pdk derives the same schema from it,
// and adds the phase handler that go-pdk looks for.
type Instance plugin.Config

// Constructor returns the constructor that go-pdk's server.StartServer
// takes: every instance shares the process's engine.
func Constructor(e *plugin.Engine) func() interface{} {
	return func() interface{} { return (*Instance)(plugin.NewConfig(e)) }
}

// UnmarshalJSON decodes Kong's instance config; it never fails, so a bad
// config is answered per request rather than by a closed socket.
func (i *Instance) UnmarshalJSON(b []byte) error { return (*plugin.Config)(i).UnmarshalJSON(b) }

// Access is Kong's access phase: the only phase the plugin handles.
func (i *Instance) Access(k *gopdk.PDK) { kongaccess.Access((*plugin.Config)(i), NewAdapter(k)) }
