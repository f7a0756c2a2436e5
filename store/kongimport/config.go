package kongimport

import (
	"fmt"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// fileCredential is an oauth2 credential in a decK / kong.yml file:
// nested in a consumer, or at the top level with a consumer reference.
type fileCredential struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret *string  `yaml:"client_secret"`
	HashSecret   bool     `yaml:"hash_secret"`
	RedirectURIs []string `yaml:"redirect_uris"`
	ClientType   string   `yaml:"client_type"`
	Consumer     any      `yaml:"consumer"` // top level: id or username, or {id: …} / {username: …}
}

type fileConsumer struct {
	ID                string           `yaml:"id"`
	Username          string           `yaml:"username"`
	OAuth2Credentials []fileCredential `yaml:"oauth2_credentials"`
}

type kongFile struct {
	Consumers         []fileConsumer   `yaml:"consumers"`
	OAuth2Credentials []fileCredential `yaml:"oauth2_credentials"`
}

// yamlValue is how yaml.v3 quotes a value it could not decode: the start
// of the value itself, which may be a client_secret in the wrong place.
// The line number and the type say where and what.
var yamlValue = regexp.MustCompile("!!([a-z]+) `[^`]*`")

// ReadConfig reads the oauth2 credentials of a decK / Kong declarative file
// (YAML or JSON). A file carries no tokens.
//
// A file's client_secret is what the app sends: Kong hashes it on load
// when hash_secret is set. The one exception is a value already in Kong's
// hash form with hash_secret set, as a decK dump of a database whose
// secrets are hashed carries: that is kept as Kong's hash.
func ReadConfig(path string) (Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Source{}, fmt.Errorf("kong config: %w", err)
	}
	var f kongFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return Source{}, fmt.Errorf("kong config %s: %s", path, yamlValue.ReplaceAllString(err.Error(), "a !!$1 value"))
	}
	var src Source
	byRef := map[string]fileConsumer{}
	for _, c := range f.Consumers {
		for _, ref := range []string{c.ID, c.Username} {
			if ref != "" {
				byRef[ref] = c
			}
		}
		for _, fc := range c.OAuth2Credentials {
			src.Credentials = append(src.Credentials, fc.credential(c))
		}
	}
	for _, fc := range f.OAuth2Credentials {
		ref := consumerRef(fc.Consumer)
		c, ok := byRef[ref]
		if !ok { // a consumer the file does not list: the reference is all we know
			c = fileConsumer{ID: ref}
		}
		src.Credentials = append(src.Credentials, fc.credential(c))
	}
	return src, nil
}

func (fc fileCredential) credential(c fileConsumer) Credential {
	cr := Credential{
		ID: fc.ID, ClientID: fc.ClientID, Name: fc.Name, ConsumerID: c.ID, ConsumerUsername: c.Username,
		RedirectURIs: fc.RedirectURIs, ClientType: fc.ClientType,
	}
	if fc.ClientSecret != nil {
		cr.Secret, cr.HasSecret = *fc.ClientSecret, true
		cr.Hashed = fc.HashSecret && clientsecret.IsKongHash(cr.Secret)
	}
	return cr
}

// consumerRef is a top-level credential's consumer: a string, or an object
// with an id or a username.
func consumerRef(v any) string {
	switch c := v.(type) {
	case string:
		return c
	case map[string]any:
		for _, k := range []string{"id", "username"} {
			if s, ok := c[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}
