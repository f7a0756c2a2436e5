package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"
)

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ChartDir is the Helm chart's directory.
func ChartDir() string {
	return filepath.Join(Root(), "deploy", "kubernetes", "helm", "oauth2-password")
}

// KubeVersion is the Kubernetes version the chart is rendered for: the
// chart asks for 1.30 or later (the preStop sleep action).
const KubeVersion = "v1.33.0"

// Release names the release as `helm install oauth2-password … -n auth`.
var Release = common.ReleaseOptions{Name: "oauth2-password", Namespace: "auth", Revision: 1, IsInstall: true}

// ValuesFile reads a values file of the chart's ci/ folder.
func ValuesFile(name string) (map[string]any, error) {
	raw, err := os.ReadFile(filepath.Join(ChartDir(), "ci", name))
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return v, nil
}

// Render renders the chart with vals as `helm template` does, client-side,
// and returns its objects (hooks included), NOTES.txt apart.
func Render(vals map[string]any) (docs []Doc, notes string, err error) {
	ch, err := loader.LoadDir(ChartDir())
	if err != nil {
		return nil, "", err
	}
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, "", err
	}
	caps := *common.DefaultCapabilities
	caps.KubeVersion = *kv
	rv, err := util.ToRenderValues(ch, vals, Release, &caps)
	if err != nil {
		return nil, "", err
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		return nil, "", err
	}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			notes = out[name]
			continue
		case strings.HasPrefix(filepath.Base(name), "_"):
			continue
		}
		ds, err := SplitDocs(name, out[name])
		if err != nil {
			return nil, "", err
		}
		docs = append(docs, ds...)
	}
	return docs, notes, nil
}
