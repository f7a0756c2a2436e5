package konghost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Info is what Kong keeps from a plugin's -dump output (reference §3.2:
// name, priority, version, schema and phases of the first plugin).
type Info struct {
	Protocol   string // always "ProtoBuf:1": Dump rejects anything else
	SocketPath string // informational: Kong ignores it (§3.1)
	Name       string
	Phases     []string
	Version    string
	Priority   int
	// Schema is the raw schema table: {"name":…, "fields":[{"config":…}]}.
	Schema map[string]any
	// Fields are the config record's fields in schema order.
	Fields []Field
}

// Field is one field of the plugin's config record.
type Field struct {
	Name string
	Type string         // "string", "boolean", "integer", "number", "array", "map", "record"
	Decl map[string]any // the whole declaration, e.g. {"type":"integer","between":[0,2147483648]}
}

// Field returns the config field called name.
func (i Info) Field(name string) (Field, bool) {
	for _, f := range i.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// HasPhase reports whether the plugin handles phase; Kong builds a Lua
// handler only for the listed phases (§3.2).
func (i Info) HasPhase(phase string) bool {
	for _, p := range i.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

// Dump runs "<bin> -dump -kong-prefix D" with a throw-away prefix and parses
// the output as Kong does.
func Dump(bin string) (Info, error) {
	dir, err := os.MkdirTemp("/tmp", "kh")
	if err != nil {
		return Info{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return dump(ctx, bin, dir, nil, nil)
}

// dump runs the query command. Kong reads only stdout, all of it, and
// decodes it as one JSON document (§3.2), so anything else a plugin prints
// on stdout breaks loading; stderr is kept only for the error message.
func dump(ctx context.Context, bin, prefix string, args, env []string) (Info, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-dump", "-kong-prefix", prefix}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Info{}, fmt.Errorf("konghost: %s -dump: %v: %s", bin, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return parseDump(stdout.Bytes())
}

type dumpPlugin struct {
	Name     string
	Phases   []string
	Version  string
	Priority int
	Schema   map[string]any
}

func parseDump(out []byte) (Info, error) {
	var d struct {
		Protocol   string
		SocketPath string
		Plugins    []dumpPlugin
	}
	// go-pdk <= v0.6 printed a bare array; Kong then uses MsgPack:1 (§2.4).
	if t := bytes.TrimSpace(out); len(t) > 0 && t[0] == '[' {
		return Info{}, fmt.Errorf("konghost: -dump is a bare array (MsgPack:1, go-pdk <= v0.6), want \"ProtoBuf:1\"")
	}
	if err := json.Unmarshal(out, &d); err != nil {
		return Info{}, fmt.Errorf("konghost: -dump output is not one JSON document: %v", err)
	}
	// Kong defaults a missing Protocol to MsgPack:1 (go-pdk <= v0.6), which
	// this host does not speak (§2.6).
	if d.Protocol != "ProtoBuf:1" {
		return Info{}, fmt.Errorf("konghost: -dump Protocol %q, want \"ProtoBuf:1\"", d.Protocol)
	}
	if len(d.Plugins) == 0 {
		return Info{}, fmt.Errorf("konghost: -dump lists no plugin")
	}
	// Kong 3.9 registers only the first entry (§3.2).
	p := d.Plugins[0]
	info := Info{
		Protocol: d.Protocol, SocketPath: d.SocketPath,
		Name: p.Name, Phases: p.Phases, Version: p.Version, Priority: p.Priority,
		Schema: p.Schema,
	}
	if p.Name == "" {
		return Info{}, fmt.Errorf("konghost: -dump plugin has no Name")
	}
	fields, err := ConfigFields(p.Schema)
	if err != nil {
		return Info{}, err
	}
	info.Fields = fields
	return info, nil
}

// ConfigFields extracts schema.fields[].config.fields[] (§2.5): a list of
// one-key objects, name → declaration.
func ConfigFields(schema map[string]any) ([]Field, error) {
	top, _ := schema["fields"].([]any)
	for _, entry := range top {
		m, _ := entry.(map[string]any)
		cfg, ok := m["config"].(map[string]any)
		if !ok {
			continue
		}
		if cfg["type"] != "record" {
			return nil, fmt.Errorf("konghost: schema config is %v, want a record", cfg["type"])
		}
		var fields []Field
		list, _ := cfg["fields"].([]any)
		for _, f := range list {
			fm, _ := f.(map[string]any)
			for name, decl := range fm {
				dm, _ := decl.(map[string]any)
				typ, _ := dm["type"].(string)
				fields = append(fields, Field{Name: name, Type: typ, Decl: dm})
			}
		}
		return fields, nil
	}
	return nil, fmt.Errorf("konghost: schema has no config record")
}
