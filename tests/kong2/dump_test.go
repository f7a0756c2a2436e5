package kong2

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/kong2host"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestDumpPluginInfo: what Kong 2.8 registers from "go-pluginserver
// -dump-plugin-info oauth2-password" is what Kong mode's -dump declares:
// the access phase, priority 1400, the version and every config field with
// its type, so a configuration written for Kong mode validates against
// Kong 2.8's schema.
func TestDumpPluginInfo(t *testing.T) {
	srv, dir := harness.Kong2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := kong2host.DumpInfo(ctx, srv, dir, "oauth2-password", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := konghost.Dump(harness.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Phases, []string{"access"}) || got.Priority != 1400 || got.Version != want.Version {
		t.Errorf("phases %v, priority %d, version %q; want [access], 1400 and Kong mode's %q", got.Phases, got.Priority, got.Version, want.Version)
	}
	if len(got.Fields) != len(want.Fields) {
		t.Errorf("%d config fields, Kong mode has %d: %v", len(got.Fields), len(want.Fields), got.Fields)
	}
	for _, w := range want.Fields {
		if g, ok := got.Field(w.Name); !ok || g.Type != w.Type {
			t.Errorf("config field %s: %+v, Kong mode %+v", w.Name, g, w)
		}
	}

	// A plugin name with no .so is no plugin: Kong 2.8 would refuse the
	// configuration rather than load something else.
	if _, err := kong2host.DumpInfo(ctx, srv, dir, "no-such-plugin", nil); err == nil {
		t.Error("-dump-plugin-info of a missing plugin: no error")
	}
}
