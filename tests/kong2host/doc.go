// Package kong2host plays Kong 2.8's side of go-pluginserver, the process
// through which Kong 2.0–2.8 runs Go plugins built as -buildmode=plugin
// shared objects. A test driving the real go-pluginserver binary (with our
// .so loaded in it) through this host shows what Kong 2.8 would get. It is
// test code: nothing shipped imports it.
//
// What it reproduces from Kong 2.8.5 (kong/runloop/plugin_servers/
// process.lua, init.lua, mp_rpc.lua):
//
//   - DumpInfo runs "go-pluginserver -plugins-directory D -dump-plugin-info
//     NAME" (Kong's info_command) and decodes its stdout as one MessagePack
//     object: Name, Phases, Version, Priority, Schema.
//   - The process is started as "go-pluginserver -kong-prefix P
//     -plugins-directory D", stdout and stderr merged, respawned at most once
//     a second; Kong connects to P/go_pluginserver.sock.
//   - Every RPC is MessagePack-RPC on a pooled connection: request
//     [0, msgid, method, [arg]], response [1, msgid, error, result], and the
//     notification [2, "serverPid", pid] the server writes on every new
//     connection. A new pid drops every known instance.
//   - Instances: one per plugin config key (__key__), reused while __seq__
//     matches; a changed config starts the new instance with
//     plugin.StartInstance {Name, Config: JSON} and then closes the old one
//     with plugin.CloseInstance.
//   - Events: plugin.HandleEvent {InstanceId, EventName} and then, for each
//     PDK call the plugin makes ({Method, Args}), the Lua function's result
//     sent back with plugin.Step, or plugin.StepError for (nil, err), or the
//     typed StepCredential/StepConsumer/StepService/StepRoute/StepMultiMap
//     that mp_rpc.lua picks by method name; "ret" ends the event.
//     kong.response.exit gets no answer: the request ends there.
//   - Kong 2.8's error handling: an error containing "no plugin instance"
//     forgets the instance and retries; any other RPC error is only logged,
//     and the request goes on to the upstream as if the plugin had not run.
//     An unknown PDK method is logged and answered nil. A PDK function that
//     raises (bad argument) fails the request with 500. A request body
//     larger than Options.ClientBodyBufferSize is in a file, and
//     kong.request.get_raw_body answers an error for it.
//
// Lua values are modelled as Go values the way Lua-MessagePack carries
// them: a nil inside a table does not exist, so a map entry whose value is
// nil is dropped before a PDK function sees it.
//
// Deliberate differences from Kong 2.8, each small: a failed
// plugin.StartInstance fails the request with 500 (Kong 2.8 carries on
// with a nil instance id); the
// "no plugin instance" retry is bounded by Options.Tries; the host waits
// for the socket to accept before sending traffic; only the access phase
// is run; the upstream request is the client's with the plugin's edits
// (no X-Forwarded-* headers added).
package kong2host
