package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// serveConfig is serve mode's config file (YAML; JSON is valid YAML).
type serveConfig struct {
	TrustedIPs []string                  `yaml:"trusted_ips"`
	Consumers  []httpConsumer            `yaml:"consumers"`
	Services   map[string]map[string]any `yaml:"services"`
}

type httpConsumer struct {
	ID       string `yaml:"id"`
	Username string `yaml:"username"`
	CustomID string `yaml:"custom_id"`
}

// loadedConfig is a checked config file.
type loadedConfig struct {
	trusted   httpfront.Trusted
	consumers []plugin.Consumer
	services  map[string][]byte // SERVICE name → its plugin config as JSON, valid
}

// configs binds every service's config to the engine.
func (lc *loadedConfig) configs(e *plugin.Engine) (map[string]*plugin.Config, error) {
	out := make(map[string]*plugin.Config, len(lc.services))
	for name, raw := range lc.services {
		c := plugin.NewConfig(e)
		if err := json.Unmarshal(raw, c); err != nil {
			return nil, err
		}
		// Checked again with the engine: upstream_jwt needs its keys.
		if err := c.Err(); err != nil {
			return nil, usagef("config: services.%s: %s", name, strings.TrimPrefix(err.Error(), "invalid plugin configuration: "))
		}
		out[name] = c
	}
	return out, nil
}

var serviceNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// validServiceName reports whether name can be a SERVICE: of
// serviceNameRe's characters, and not "." or "..", which are path
// segments every client and proxy resolves away before /services/SERVICE/
// reaches us (RFC 3986 §5.2.4).
func validServiceName(name string) bool {
	return serviceNameRe.MatchString(name) && name != "." && name != ".."
}

// loadServeConfig reads and checks the config file, before anything else
// starts. Every error names the field, as a usage error (exit 2). Services
// take exactly the plugin configuration fields, with Kong mode's defaults;
// a service's tokens are bound to its name as Kong-mode tokens are bound to
// a Kong service id.
func loadServeConfig(path string) (*loadedConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("config: %v", err)
	}
	var sc serveConfig
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	switch err := dec.Decode(&sc); {
	case errors.Is(err, io.EOF):
		return nil, usagef("config %s: the file is empty", path)
	case err != nil:
		return nil, usagef("config %s: %s", path, yamlError(err))
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, usagef("config %s: more than one YAML document (---): one config per file", path)
	}
	lc := &loadedConfig{services: map[string][]byte{}}
	for i, s := range sc.TrustedIPs {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, usagef("config %s: trusted_ips[%d]: %q is not an IP address or CIDR range", path, i, s)
		}
		lc.trusted = append(lc.trusted, p)
	}
	for i, c := range sc.Consumers {
		if c.Username == "" && c.ID == "" {
			return nil, usagef("config %s: consumers[%d]: username or id is required", path, i)
		}
		// Each is sent upstream in an X-Consumer-* header.
		for _, f := range []struct{ name, v string }{{"id", c.ID}, {"username", c.Username}, {"custom_id", c.CustomID}} {
			if f.v != "" && !oauth.Printable(f.v) {
				return nil, usagef("config %s: consumers[%d].%s: must be printable UTF-8 (it is sent upstream in a header)", path, i, f.name)
			}
		}
		if c.ID == "" {
			c.ID = c.Username
		}
		lc.consumers = append(lc.consumers, plugin.Consumer{ID: c.ID, Username: c.Username, CustomID: c.CustomID})
	}
	if len(sc.Services) == 0 {
		return nil, usagef("config %s: services: at least one service is required", path)
	}
	known := plugin.FieldNames()
	names := make([]string, 0, len(sc.Services))
	for name := range sc.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fields := sc.Services[name]
		if !validServiceName(name) {
			return nil, usagef("config %s: services: %q is not a service name ([A-Za-z0-9._-]+, not . or ..)", path, name)
		}
		if err := readProvisionKeyFile(fields); err != nil {
			return nil, usagef("config %s: services.%s.%s: %v", path, name, provisionKeyFile, err)
		}
		for k := range fields {
			if !slices.Contains(known, k) {
				return nil, usagef("config %s: services.%s.%s: unknown field (fields: %s)", path, name, k, strings.Join(known, ", "))
			}
		}
		raw, err := serviceConfig(name, fields)
		if err != nil {
			return nil, usagef("config %s: services.%s: %v", path, name, err)
		}
		lc.services[name] = raw
	}
	return lc, nil
}

// serviceConfig is a service's plugin config the way Kong sends an
// instance's: the fields as JSON, plus the service id. It is checked here.
func serviceConfig(name string, fields map[string]any) ([]byte, error) {
	m := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		m[k] = v
	}
	m["service_id"] = name
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %v", err)
	}
	c := plugin.NewConfig(nil)
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	if err := c.Err(); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "invalid plugin configuration: "))
	}
	return b, nil
}

// parsePrefix accepts an address (a single host) or a CIDR range.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// provisionKeyFile is a serve-only service field: the file whose first line
// is the service's provision_key, so that the key can come from a mounted
// secret (Kubernetes) while the rest of the config sits in plain view.
const provisionKeyFile = "provision_key_file"

// readProvisionKeyFile replaces a service's provision_key_file with the
// provision_key it names.
func readProvisionKeyFile(fields map[string]any) error {
	v, ok := fields[provisionKeyFile]
	if !ok {
		return nil
	}
	path, isString := v.(string)
	switch {
	case !isString || path == "":
		return errors.New("must be a file path")
	case fields["provision_key"] != nil:
		return errors.New("provision_key and provision_key_file exclude each other")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	key, _, _ := strings.Cut(string(raw), "\n")
	if key = strings.TrimSuffix(key, "\r"); key == "" {
		return fmt.Errorf("%s: the first line is empty", path)
	}
	delete(fields, provisionKeyFile)
	fields["provision_key"] = key
	return nil
}

// yamlValue is how yaml.v3 quotes a value it could not decode: the start
// of the value itself, which may be a provision key in the wrong place.
var yamlValue = regexp.MustCompile("!!([a-z]+) `[^`]*`")

// yamlError is err on one line, without the values yaml.v3 quotes (the
// line number and the type say where and what).
func yamlError(err error) string {
	return yamlValue.ReplaceAllString(oneLine(err.Error()), "a !!$1 value")
}
