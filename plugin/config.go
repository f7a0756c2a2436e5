package plugin

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is one plugin instance's configuration as Kong sends it in
// cmd_start_instance: the flat config table plus the scope ids Kong adds.
//
// go-pdk derives the schema Kong validates against from the exported fields
// (kong/PROTOCOL.md): the json tag names the field, pointers let
// us tell an absent field (JSON null) from a zero value, and only string,
// bool, int and slices are used because go-pdk silently drops int64 and
// friends from the schema. go-pdk emits no defaults, so defaults are applied
// by settings().
type Config struct {
	ProvisionKey                  *string  `json:"provision_key"`
	Scopes                        []string `json:"scopes"`
	MandatoryScope                *bool    `json:"mandatory_scope"`
	TokenExpiration               *int     `json:"token_expiration"`
	RefreshTokenTTL               *int     `json:"refresh_token_ttl"`
	ReuseRefreshToken             *bool    `json:"reuse_refresh_token"`
	GlobalCredentials             *bool    `json:"global_credentials"`
	HideCredentials               *bool    `json:"hide_credentials"`
	AcceptHTTPIfAlreadyTerminated *bool    `json:"accept_http_if_already_terminated"`
	Anonymous                     *string  `json:"anonymous"`
	AuthHeaderName                *string  `json:"auth_header_name"`
	Realm                         *string  `json:"realm"`

	// The standard password grant (flow_login.go): username and password
	// checked by the operator's login backend. go-pdk maps a
	// map[string]string to Kong's "map" schema type.
	AuthenticateURL     *string           `json:"authenticate_url"`
	AuthenticateTimeout *int              `json:"authenticate_timeout"`
	AuthenticateHeaders map[string]string `json:"authenticate_headers"`
	AuthenticateParams  []string          `json:"authenticate_params"`

	// Upstream identity (upstream_jwt.go): a signed JWT for the upstream.
	UpstreamJWT       *bool   `json:"upstream_jwt"`
	UpstreamJWTHeader *string `json:"upstream_jwt_header"`
	UpstreamJWTTTL    *int    `json:"upstream_jwt_ttl"`
	// RefreshTokenGracePeriod (seconds, default 0: Kong's behaviour) lets
	// a client retry a refresh whose answer it lost (flow_refresh_grace.go).
	RefreshTokenGracePeriod *int `json:"refresh_token_grace_period"`

	// Added by Kong to every instance config (kong/PROTOCOL.md);
	// unexported so that they stay out of the schema.
	serviceID   string
	routeID     string
	workspaceID string // __ws_id: Kong's consumers are per workspace

	engine *Engine

	once    sync.Once
	set     *settings // validated view, built once per instance
	err     error     // the config error, if any
	logOnce sync.Once // the config error is logged once per instance
}

// NewConfig returns an empty instance config bound to the engine. go-pdk
// calls the constructor that wraps it once per cmd_start_instance and then
// unmarshals Kong's JSON into the result.
func NewConfig(e *Engine) *Config { return &Config{engine: e} }

// Defaults, as in Kong's oauth2 schema (docs/configuration.md).
const (
	defaultTokenExpiration = 7200
	defaultRefreshTokenTTL = 1209600
	defaultAuthHeaderName  = "authorization"
	maxRefreshTokenTTL     = 100000000 // Kong's DAO_MAX_TTL
	// maxRefreshGrace bounds refresh_token_grace_period: a retry comes
	// within seconds; a long window would let a stolen refresh token be
	// used beside the client's without revoking the family.
	maxRefreshGrace = 300
)

// UnmarshalJSON decodes Kong's instance config. It never fails: an error
// here makes go-pdk drop the connection and Kong answer a bare 500 with no
// hint of the cause, so a bad field is recorded instead and every request
// of the instance is answered with a 500 naming it (see settings).
//
// Keys are matched case-insensitively, as encoding/json would; unknown keys
// (Kong's __seq__, __key__, plugin_instance_name, ...) are ignored.
func (c *Config) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		c.err = errors.New("config: not a JSON object")
		return nil
	}
	// Keys that differ only in case: the lower-case spelling wins, else
	// the last in byte order, so that one config always decodes the same
	// way (map order is random).
	fields := make(map[string]json.RawMessage, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		lk := strings.ToLower(k)
		if _, exact := raw[lk]; exact && k != lk {
			continue
		}
		fields[lk] = raw[k]
	}
	// Fixed order so that "the first bad field" is deterministic.
	decoders := []struct {
		name string
		dec  func(json.RawMessage) error
	}{
		{"provision_key", strField(&c.ProvisionKey)},
		{"scopes", func(m json.RawMessage) error {
			if json.Unmarshal(m, &c.Scopes) != nil {
				return errors.New("expected an array of strings")
			}
			return nil
		}},
		{"mandatory_scope", boolField(&c.MandatoryScope)},
		{"token_expiration", intField(&c.TokenExpiration)},
		{"refresh_token_ttl", intField(&c.RefreshTokenTTL)},
		{"reuse_refresh_token", boolField(&c.ReuseRefreshToken)},
		{"global_credentials", boolField(&c.GlobalCredentials)},
		{"hide_credentials", boolField(&c.HideCredentials)},
		{"accept_http_if_already_terminated", boolField(&c.AcceptHTTPIfAlreadyTerminated)},
		{"anonymous", strField(&c.Anonymous)},
		{"auth_header_name", strField(&c.AuthHeaderName)},
		{"realm", strField(&c.Realm)},
		{"authenticate_url", strField(&c.AuthenticateURL)},
		{"authenticate_timeout", intField(&c.AuthenticateTimeout)},
		{"authenticate_headers", func(m json.RawMessage) error {
			if json.Unmarshal(m, &c.AuthenticateHeaders) != nil {
				return errors.New("expected an object of strings")
			}
			return nil
		}},
		{"authenticate_params", func(m json.RawMessage) error {
			if json.Unmarshal(m, &c.AuthenticateParams) != nil {
				return errors.New("expected an array of strings")
			}
			return nil
		}},
		{"upstream_jwt", boolField(&c.UpstreamJWT)},
		{"upstream_jwt_header", strField(&c.UpstreamJWTHeader)},
		{"upstream_jwt_ttl", intField(&c.UpstreamJWTTTL)},
		{"refresh_token_grace_period", intField(&c.RefreshTokenGracePeriod)},
		{"service_id", plainStr(&c.serviceID)},
		{"route_id", plainStr(&c.routeID)},
		{"__ws_id", plainStr(&c.workspaceID)},
	}
	for _, d := range decoders {
		v, ok := fields[d.name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		if err := d.dec(v); err != nil && c.err == nil {
			c.err = fmt.Errorf("%s: %v", d.name, err)
		}
	}
	return nil
}

func strField(p **string) func(json.RawMessage) error {
	return func(m json.RawMessage) error {
		var s string
		if json.Unmarshal(m, &s) != nil {
			return errors.New("expected a string")
		}
		*p = &s
		return nil
	}
}

func plainStr(p *string) func(json.RawMessage) error {
	return func(m json.RawMessage) error {
		if json.Unmarshal(m, p) != nil {
			return errors.New("expected a string")
		}
		return nil
	}
}

func boolField(p **bool) func(json.RawMessage) error {
	return func(m json.RawMessage) error {
		var b bool
		if json.Unmarshal(m, &b) != nil {
			return errors.New("expected a boolean")
		}
		*p = &b
		return nil
	}
}

// intField accepts any integral JSON number (7200 or 7200.0: Lua numbers
// are doubles) that fits in 32 bits.
func intField(p **int) func(json.RawMessage) error {
	return func(m json.RawMessage) error {
		var f float64
		switch {
		case json.Unmarshal(m, &f) != nil || f != math.Trunc(f):
			return errors.New("expected an integer")
		case math.Abs(f) > math.MaxInt32:
			return fmt.Errorf("expected an integer of at most %d", math.MaxInt32)
		}
		i := int(f)
		*p = &i
		return nil
	}
}

// settings is the validated view of a Config with defaults applied.
type settings struct {
	provisionKey   [32]byte // SHA-256 of the key: compared in constant time, length hidden
	scopes         []string // nil: no scopes configured
	mandatoryScope bool
	tokenExp       int64
	refreshTTL     int64
	reuseRefresh   bool
	global         bool
	hide           bool
	acceptHTTP     bool
	anonymous      string
	authHeader     string // lower case, '-' for '_'
	realm          string // "" = none
	serviceID      string // "" when the plugin is not scoped to a service
	workspaceID    string // "" outside Kong, or before workspaces

	// login is the login backend of the standard password grant; nil when
	// authenticate_url is not set.
	login        loginBackend
	loginTimeout time.Duration
	loginParams  []string // request parameters passed to the backend

	// upstream_jwt (upstream_jwt.go)
	upstreamJWT bool
	jwtHeader   string // the header it is sent in, spelled as authHeader when the same
	jwtTTL      int64  // seconds
	// refreshGrace is refresh_token_grace_period; 0 = off.
	refreshGrace time.Duration
}

// settings validates the config once per instance. The error message names
// the field but never echoes the provision_key.
func (c *Config) settings() (*settings, error) {
	c.once.Do(func() {
		if c.err == nil {
			c.set, c.err = c.validate()
		}
		if c.err != nil {
			c.err = fmt.Errorf("invalid plugin configuration: %v", c.err)
		}
	})
	return c.set, c.err
}

func (c *Config) validate() (*settings, error) {
	s := &settings{
		tokenExp:    defaultTokenExpiration,
		refreshTTL:  defaultRefreshTokenTTL,
		authHeader:  defaultAuthHeaderName,
		serviceID:   c.serviceID,
		workspaceID: c.workspaceID,
	}
	if c.ProvisionKey == nil || *c.ProvisionKey == "" {
		return nil, errors.New("provision_key: required field missing")
	}
	if weakProvisionKey(*c.ProvisionKey) {
		return nil, errWeakProvisionKey
	}
	s.provisionKey = sha256.Sum256([]byte(*c.ProvisionKey))
	if c.Scopes != nil {
		for _, sc := range c.Scopes {
			if sc == "" || strings.IndexFunc(sc, isLuaSpace) >= 0 {
				return nil, errors.New("scopes: every scope must be non-empty and contain no whitespace")
			}
		}
		s.scopes = append([]string{}, c.Scopes...)
	}
	s.mandatoryScope = boolOr(c.MandatoryScope)
	if s.mandatoryScope && len(s.scopes) == 0 {
		return nil, errors.New("scopes: required when mandatory_scope is true")
	}
	if c.TokenExpiration != nil {
		if *c.TokenExpiration < 0 {
			return nil, errors.New("token_expiration: value should be 0 or greater")
		}
		s.tokenExp = int64(*c.TokenExpiration)
	}
	if c.RefreshTokenTTL != nil {
		if *c.RefreshTokenTTL < 0 || *c.RefreshTokenTTL > maxRefreshTokenTTL {
			return nil, fmt.Errorf("refresh_token_ttl: value should be between 0 and %d", maxRefreshTokenTTL)
		}
		s.refreshTTL = int64(*c.RefreshTokenTTL)
	}
	if c.AuthHeaderName != nil {
		h := strings.TrimSpace(*c.AuthHeaderName)
		if h == "" || strings.ContainsAny(h, " \t\r\n:") {
			return nil, errors.New("auth_header_name: must be a non-empty header name")
		}
		// Kong's kong.request.get_header reads nginx's $http_<name>, in
		// which '-' and '_' are one character: Kong finds "X-Api-Token"
		// for auth_header_name x_api_token. Every front looks the dash
		// spelling up, the one clients send and proxies pass (nginx drops
		// underscored headers, Envoy refuses them).
		s.authHeader = strings.ReplaceAll(strings.ToLower(h), "_", "-")
	}
	if c.Realm != nil {
		s.realm = *c.Realm
	}
	if c.Anonymous != nil {
		s.anonymous = strings.TrimSpace(*c.Anonymous)
	}
	s.reuseRefresh = boolOr(c.ReuseRefreshToken)
	s.global = boolOr(c.GlobalCredentials)
	s.hide = boolOr(c.HideCredentials)
	s.acceptHTTP = boolOr(c.AcceptHTTPIfAlreadyTerminated)
	if err := c.validateLogin(s); err != nil {
		return nil, err
	}
	if err := c.validateUpstreamJWT(s); err != nil {
		return nil, err
	}
	if g := c.RefreshTokenGracePeriod; g != nil {
		if *g < 0 || *g > maxRefreshGrace {
			return nil, fmt.Errorf("refresh_token_grace_period: value should be between 0 and %d", maxRefreshGrace)
		}
		s.refreshGrace = time.Duration(*g) * time.Second
	}
	return s, nil
}

// minProvisionKeyLen is the shortest provision_key accepted. The key is
// the only thing that lets a caller name the user a token is for (RFC 6749
// §4.3 leaves user authentication to the backend that holds it), so a
// guessable one is refused rather than served: 16 random characters are
// well beyond what the token endpoint's throttling lets anyone try.
const minProvisionKeyLen = 16

// errWeakProvisionKey is one message for every weak key, so that the error
// says nothing about the key itself.
var errWeakProvisionKey = fmt.Errorf("provision_key: must be a random value of at least %d characters, not a placeholder such as CHANGE-ME (generate one with: openssl rand -base64 32)", minProvisionKeyLen)

// weakProvisionKey reports a key that is too short or is still the
// example's placeholder ("CHANGE-ME…", "changeme…", in any case).
func weakProvisionKey(k string) bool {
	if len(k) < minProvisionKeyLen {
		return true
	}
	letters := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, strings.ToLower(k))
	return strings.Contains(letters, "changeme")
}

func boolOr(b *bool) bool { return b != nil && *b }

// isLuaSpace matches Lua's %s (ASCII whitespace), which Kong uses to split
// scopes and headers.
func isLuaSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// luaFields splits s on Lua whitespace (Kong's gmatch("%S+")).
func luaFields(s string) []string { return strings.FieldsFunc(s, isLuaSpace) }

// Err validates the config and returns what is wrong with it, naming the
// field, or nil. Kong-mode instances answer every request with it instead
// (see Handle); serve mode refuses to start.
func (c *Config) Err() error {
	_, err := c.settings()
	return err
}

// FieldNames are the configuration fields, as their JSON names.
func FieldNames() []string {
	t := reflect.TypeFor[Config]()
	var names []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("json"); tag != "" {
			names = append(names, tag)
		}
	}
	return names
}
