// Package konghost plays Kong 3.9's side of the Go plugin socket, faithfully
// enough that a test driving a real plugin binary through it proves Kong can
// load and use that binary. It is test code: nothing in the shipped binary
// imports it.
//
// What it reproduces, with the section of kong/PROTOCOL.md that says why
// (a bare "§N" in this package's comments is a section of that file):
//
//   - Dump runs "<bin> -dump -kong-prefix D" and reads the JSON the way Kong's
//     query_cmd handling does: whole stdout, ProtoBuf:1 required, first plugin
//     only (§2).
//   - Process starts "<bin> -kong-prefix D [args]" like start_cmd, merges
//     stdout and stderr into one line log, and respawns a dead process at most
//     once per second until closed (§1).
//   - The wire: uint32 little-endian length frames, RpcCall/RpcReturn from
//     go-pdk's generated protobuf package, per-plugin sequence numbers from 2
//     with the echo check, pooled Unix connections that go back to the pool
//     only after a clean RpcReturn (§3).
//   - Instances: one per plugin entity, reused while __seq__ matches; a config
//     change starts the new instance and then closes the old one; a connection
//     closed during an event resets every instance and retries (§4).
//   - PDK calls are answered with Kong's message types from the request being
//     handled; kong.response.exit gets no reply and ends the plugin chain; an
//     unknown method, or a Kong PDK function that raises, fails the request
//     with 500 (§5, §6, §7).
//
// Host is the Kong node (one plugin binary). Front puts plain and TLS HTTP
// listeners in front of it and answers proxied requests with a JSON echo of
// the upstream request as the plugin left it. Host.Do runs the access phase
// without HTTP, for benchmarks.
//
// Deliberate differences from Kong, each small: the host waits for the
// plugin's socket to accept before sending traffic (Kong 3.5+ does not,
// §1); the reset-and-retry loop is bounded (Kong's recursion is not, §4);
// only the access phase is run.
package konghost
