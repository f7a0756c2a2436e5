package harness

import (
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// KongYML is the part of a declarative Kong configuration (kong/kong.yml)
// the suites read.
type KongYML struct {
	FormatVersion string `yaml:"_format_version"`
	Services      []struct {
		Name   string `yaml:"name"`
		URL    string `yaml:"url"`
		Routes []struct {
			Name  string   `yaml:"name"`
			Paths []string `yaml:"paths"`
		} `yaml:"routes"`
		Plugins []struct {
			Name   string         `yaml:"name"`
			Config map[string]any `yaml:"config"`
		} `yaml:"plugins"`
	} `yaml:"services"`
	Consumers []struct {
		Username string `yaml:"username"`
		CustomID string `yaml:"custom_id"`
	} `yaml:"consumers"`
}

// ReadKongYML parses a declarative configuration; "" reads the
// repository's kong/kong.yml.
func ReadKongYML(file string) (KongYML, error) {
	if file == "" {
		file = filepath.Join(Root(), "kong", "kong.yml")
	}
	var doc KongYML
	raw, err := os.ReadFile(file)
	if err == nil {
		err = yaml.Unmarshal(raw, &doc)
	}
	return doc, err
}
