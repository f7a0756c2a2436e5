package konghost

import (
	"slices"
	"strings"
	"testing"
)

func TestDumpFloorPlugin(t *testing.T) {
	info, err := Dump(floorBin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "floor-plugin" || info.Version != "0.1" || info.Priority != 1400 {
		t.Errorf("info = %s %s %d, want floor-plugin 0.1 1400", info.Name, info.Version, info.Priority)
	}
	if !slices.Equal(info.Phases, []string{"access"}) {
		t.Errorf("phases = %v, want [access]", info.Phases)
	}
	if !strings.HasSuffix(info.SocketPath, "/floor-plugin.socket") {
		t.Errorf("socket path = %q", info.SocketPath)
	}
	want := map[string]string{"consumer_id": "string", "require_auth": "boolean", "exit_status": "integer", "probe": "string"}
	if len(info.Fields) != len(want) {
		t.Errorf("fields = %v, want %v", info.Fields, want)
	}
	for name, typ := range want {
		if f, ok := info.Field(name); !ok || f.Type != typ {
			t.Errorf("field %s = %+v, %v; want type %s", name, f, ok, typ)
		}
	}
}

func TestParseDumpLikeKong(t *testing.T) {
	tests := []struct {
		name, out, wantName, wantErr string
	}{
		{"first plugin only", `{"Protocol":"ProtoBuf:1","SocketPath":"/x/a.socket","Plugins":[` +
			`{"Name":"a","Phases":["access"],"Version":"1","Priority":1,"Schema":{"name":"a","fields":[{"config":{"type":"record","fields":[]}}]}},` +
			`{"Name":"b","Phases":["access"],"Version":"1","Priority":1,"Schema":{"name":"b","fields":[{"config":{"type":"record","fields":[]}}]}}]}`, "a", ""},
		{"missing Protocol means MsgPack", `[{"Name":"a"}]`, "", "ProtoBuf:1"},
		{"MsgPack refused", `{"Protocol":"MsgPack:1","Plugins":[{"Name":"a"}]}`, "", "ProtoBuf:1"},
		{"log line on stdout breaks the JSON", "Listening\n{\"Protocol\":\"ProtoBuf:1\"}", "", "not one JSON document"},
		{"no plugins", `{"Protocol":"ProtoBuf:1","Plugins":[]}`, "", "no plugin"},
		{"no config record", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"a","Schema":{"fields":[]}}]}`, "", "no config record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseDump([]byte(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || info.Name != tt.wantName {
				t.Fatalf("info %q err %v, want %q", info.Name, err, tt.wantName)
			}
		})
	}
}
