package plugin

import (
	"sync"
)

// Config is one plugin instance's configuration as Kong sends it in
// cmd_start_instance: the flat config table plus the scope ids Kong adds.
//
// go-pdk derives the schema Kong validates against from the exported fields
// (kong-plugin-protocol.md §2.5): the json tag names the field, pointers let
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

	// Added by Kong to every instance config (kong-plugin-protocol.md §3.8);
	// unexported so that they stay out of the schema.
	serviceID string
	routeID   string

	engine *Engine

	once sync.Once
	set  *settings // validated view, built once per instance
	err  error     // the config error, if any
}

// NewConfig returns an empty instance config bound to the engine. go-pdk
// calls the constructor that wraps it once per cmd_start_instance and then
// unmarshals Kong's JSON into the result.
func NewConfig(e *Engine) *Config { return &Config{engine: e} }

// configJSON mirrors Config's exported fields (same tags) so that
// UnmarshalJSON can decode them without recursing.
type configJSON struct {
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
	ServiceID                     *string  `json:"service_id"`
	RouteID                       *string  `json:"route_id"`
}
