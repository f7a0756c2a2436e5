package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod turns a rendered pod spec into a local process: every path the
// container mounts is mapped below Dir, ConfigMap and Secret volumes are
// written there from the rendered objects, and environment variables read
// from Secrets are resolved from them. Nothing else is changed, so the
// command that runs is the chart's.
type Pod struct {
	Dir        string
	Binary     string // the image's /usr/local/bin/oauth2-password
	ConfigMaps map[string]corev1.ConfigMap
	Secrets    map[string]corev1.Secret
	mounts     map[string]string // container path → local path
}

// Map rewrites every mounted path in s to its local place.
func (p *Pod) Map(s string) string {
	keys := make([]string, 0, len(p.mounts))
	for k := range p.mounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, p.mounts[k])
	}
	return strings.ReplaceAll(s, "/usr/local/bin/oauth2-password", p.Binary)
}

// Mount lays out c's volume mounts from spec's volumes below Dir.
func (p *Pod) Mount(spec corev1.PodSpec, c corev1.Container) error {
	p.mounts = map[string]string{}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		local := filepath.Join(p.Dir, m.MountPath)
		p.mounts[m.MountPath] = local
		v, ok := vols[m.Name]
		var files map[string]string
		switch {
		case !ok && m.Name == "data": // a StatefulSet's volumeClaimTemplate
		case !ok:
			return fmt.Errorf("mount %s: no volume %q", m.MountPath, m.Name)
		case v.ConfigMap != nil:
			cm, found := p.ConfigMaps[v.ConfigMap.Name]
			if !found {
				return fmt.Errorf("volume %s: the chart renders no ConfigMap %q", m.Name, v.ConfigMap.Name)
			}
			files = cm.Data
		case v.Secret != nil:
			s, found := p.Secrets[v.Secret.SecretName]
			if !found {
				return fmt.Errorf("volume %s: the chart renders no Secret %q", m.Name, v.Secret.SecretName)
			}
			files = s.StringData
		}
		if m.SubPath != "" {
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(local, []byte(files[m.SubPath]), 0o600); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(local, 0o755); err != nil {
			return err
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(local, name), []byte(content), 0o600); err != nil {
				return err
			}
		}
	}
	// Files may name other mounted paths (the config names the provision
	// key files): map them too.
	for _, local := range p.mounts {
		if fi, err := os.Stat(local); err == nil && !fi.IsDir() {
			b, err := os.ReadFile(local)
			if err != nil {
				return err
			}
			if err := os.WriteFile(local, []byte(p.Map(string(b))), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// Env resolves c's environment: plain values (paths mapped) and values
// from the rendered Secrets.
func (p *Pod) Env(c corev1.Container) ([]string, error) {
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+p.Map(e.Value))
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, ok := p.Secrets[ref.Name]
			if !ok {
				return nil, fmt.Errorf("env %s: the chart renders no Secret %q", e.Name, ref.Name)
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				return nil, fmt.Errorf("env %s: Secret %s has no key %q", e.Name, ref.Name, ref.Key)
			}
			env = append(env, e.Name+"="+v)
		default:
			return nil, fmt.Errorf("env %s: a source this test does not resolve", e.Name)
		}
	}
	return env, nil
}
