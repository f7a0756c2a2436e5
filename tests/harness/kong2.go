package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	kong2Once sync.Once
	kong2Dir  string
	kong2Err  error
	kong2Out  []byte
)

// Kong2 builds go-pluginserver and oauth2-password.so from the legacy
// module pdk/kong2, as `make legacy` does (same toolchain, same module,
// hence the same go-pdk and codec in both), once per test binary. It
// returns the go-pluginserver path and the plugins directory.
func Kong2(t testing.TB) (pluginServer, pluginsDir string) {
	t.Helper()
	kong2Once.Do(func() {
		if kong2Dir, kong2Err = os.MkdirTemp("", "o2p-kong2"); kong2Err != nil {
			return
		}
		mod := filepath.Join(Root(), "pdk", "kong2")
		for _, args := range [][]string{
			{"build", "-o", filepath.Join(kong2Dir, "go-pluginserver"), "github.com/Kong/go-pluginserver"},
			{"build", "-buildmode=plugin", "-o", filepath.Join(kong2Dir, "plugins", "oauth2-password.so"), "."},
		} {
			cmd := exec.Command("go", args...)
			cmd.Dir = mod
			if kong2Out, kong2Err = cmd.CombinedOutput(); kong2Err != nil {
				return
			}
		}
	})
	if kong2Err != nil {
		t.Fatalf("building the Kong 2.x plugin: %v\n%s", kong2Err, kong2Out)
	}
	return filepath.Join(kong2Dir, "go-pluginserver"), filepath.Join(kong2Dir, "plugins")
}
