package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Doc is one YAML document of a manifest or a rendered template.
type Doc struct {
	Source     string // file (and document number)
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	JSON []byte // the document as JSON
}

// SplitDocs splits a multi-document YAML file, dropping empty documents
// (a template whose condition is off renders none).
func SplitDocs(source, text string) ([]Doc, error) {
	var out []Doc
	for i, part := range splitYAML(text) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): %v", source, i+1, err)
		}
		d := Doc{Source: fmt.Sprintf("%s#%d", source, i+1), JSON: j}
		if err := json.Unmarshal(j, &d); err != nil {
			return nil, fmt.Errorf("%s: %v", d.Source, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func splitYAML(text string) []string {
	var parts []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(parts, cur.String())
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// Strict decodes a document into v, refusing any field v's type does not
// have: a misspelt or misplaced key is an error, as the API server's strict
// field validation makes it.
func Strict(d Doc, v any) error {
	dec := json.NewDecoder(bytes.NewReader(d.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s (%s %s): %v", d.Source, d.Kind, d.Metadata.Name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: trailing data", d.Source)
	}
	return nil
}
