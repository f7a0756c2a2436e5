// Command kong2 is oauth2-password for Kong 2.x: built with
// -buildmode=plugin into oauth2-password.so, it is loaded by Kong's
// go-pluginserver v0.6.1, which looks up the symbols New, Version and
// Priority and calls the Access method of what New returns. It is its own
// module because a plugin and the go-pluginserver that loads it must be
// built with the same version of every package they share (go-pdk v0.6.0,
// ugorji/go/codec), while the main module uses go-pdk v0.11.0. The engine
// and the store are the main module's (replace => ../..).
package main

// Version is the plugin version go-pluginserver reports to Kong: Kong
// mode's (tests/kong2 compares them).
var Version = "0.1.0"

// Priority places the plugin where Kong's own oauth2 plugin runs (1400):
// after jwt, before acl and rate-limiting.
var Priority = 1400

// New is the constructor go-pluginserver calls once at load (for the schema
// and the phases) and once per plugin.StartInstance.
func New() interface{} { return &Config{} }

func main() {}
