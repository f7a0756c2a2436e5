package main

import (
	gopdk "github.com/Kong/go-pdk"

	"github.com/oauth2-password/oauth2-password/pdk/kongaccess"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// Config is the instance type. go-pluginserver derives Kong's schema from
// its exported fields and skips pointer fields, so they are plain values
// here, one per field of plugin.Config with the same json names; they are
// the schema only. Kong's JSON goes to plugin.Config's own decoder, which
// tells an absent field (null) from a zero value and never fails.
type Config struct {
	ProvisionKey                  string   `json:"provision_key"`
	Scopes                        []string `json:"scopes"`
	MandatoryScope                bool     `json:"mandatory_scope"`
	TokenExpiration               int      `json:"token_expiration"`
	RefreshTokenTTL               int      `json:"refresh_token_ttl"`
	ReuseRefreshToken             bool     `json:"reuse_refresh_token"`
	GlobalCredentials             bool     `json:"global_credentials"`
	HideCredentials               bool     `json:"hide_credentials"`
	AcceptHTTPIfAlreadyTerminated bool     `json:"accept_http_if_already_terminated"`
	Anonymous                     string   `json:"anonymous"`
	AuthHeaderName                string   `json:"auth_header_name"`
	Realm                         string   `json:"realm"`
	// The standard password grant.
	AuthenticateURL     string            `json:"authenticate_url"`
	AuthenticateTimeout int               `json:"authenticate_timeout"`
	AuthenticateHeaders map[string]string `json:"authenticate_headers"`
	AuthenticateParams  []string          `json:"authenticate_params"`
	// Upstream identity: in the schema so that it matches Kong mode's; a
	// Kong 2.x plugin has no signing key, so upstream_jwt: true is
	// answered with a 500 naming the field.
	UpstreamJWT       bool   `json:"upstream_jwt"`
	UpstreamJWTHeader string `json:"upstream_jwt_header"`
	UpstreamJWTTTL    int    `json:"upstream_jwt_ttl"`
	// Retries of a refresh whose answer was lost (docs/ha-postgresql.md).
	RefreshTokenGracePeriod int `json:"refresh_token_grace_period"`

	cfg *plugin.Config
}

// UnmarshalJSON decodes Kong's instance config (plugin.StartInstance). It
// never fails: a bad field is answered per request with a 500 naming it.
func (c *Config) UnmarshalJSON(b []byte) error {
	c.cfg = plugin.NewConfig(engine())
	return c.cfg.UnmarshalJSON(b)
}

// Access is Kong's access phase, the only phase the plugin handles.
// go-pluginserver runs events only on started instances, whose config it
// has unmarshalled, so c.cfg is set.
func (c *Config) Access(k *gopdk.PDK) { kongaccess.Access(c.cfg, adapter{k}) }
