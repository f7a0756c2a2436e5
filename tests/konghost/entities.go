package konghost

import (
	"fmt"
	"maps"
	"strings"
)

// Scope is what the plugin entity is bound to, which decides the scope ids
// Kong adds to the config (§3.8).
type Scope int

const (
	ScopeService Scope = iota // plugin on the service: service_id set
	ScopeRoute                // plugin on the route only: route_id set
	ScopeGlobal               // global plugin: neither
)

// ServiceSpec declares a Kong service with one route and one plugin entity
// of the host's plugin.
type ServiceSpec struct {
	Name       string // unique; also the service and route name
	Host       string // route host (Host header, no port); "" matches any
	PathPrefix string // route path prefix; "" matches any
	Scope      Scope
	Config     map[string]any // the plugin's config fields
	// InstanceName is plugin_instance_name; default "<plugin>-<service>".
	InstanceName string
}

// Service is a declared service with the ids Kong gave its entities.
type Service struct {
	Name, Host, PathPrefix       string
	Scope                        Scope
	ServiceID, RouteID, PluginID string
}

// entity is the service + route + plugin entity, with the plugin's current
// config and the __seq__ the plugins iterator gave it.
type entity struct {
	Service
	instanceName string
	config       map[string]any
	seq          int64
}

// AddService declares a service and enables the plugin on it.
func (h *Host) AddService(s ServiceSpec) (Service, error) {
	if s.Name == "" {
		return Service{}, fmt.Errorf("konghost: service needs a name")
	}
	e := &entity{
		Service: Service{
			Name: s.Name, Host: strings.ToLower(s.Host), PathPrefix: s.PathPrefix, Scope: s.Scope,
			ServiceID: NewUUID(), RouteID: NewUUID(), PluginID: NewUUID(),
		},
		instanceName: s.InstanceName,
		config:       maps.Clone(s.Config),
		seq:          h.seq.Add(1),
	}
	if e.instanceName == "" {
		e.instanceName = h.info.Name + "-" + s.Name
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.services[s.Name]; dup {
		return Service{}, fmt.Errorf("konghost: service %q exists", s.Name)
	}
	h.services[s.Name] = e
	return e.Service, nil
}

// SetConfig changes the plugin config of a service. Like a rebuilt plugins
// iterator it gets a new __seq__; the next request then starts a new
// instance and closes the old one (§3.9).
func (h *Host) SetConfig(service string, cfg map[string]any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.services[service]
	if !ok {
		return fmt.Errorf("konghost: no service %q", service)
	}
	e.config = maps.Clone(cfg)
	e.seq = h.seq.Add(1)
	return nil
}

// Service returns a declared service.
func (h *Host) Service(name string) (Service, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.services[name]
	if !ok {
		return Service{}, false
	}
	return e.Service, true
}

// route picks the service for a Host header and path: an exact host beats
// a wildcard (""), then the longest path prefix wins.
func (h *Host) route(host, path string) (string, bool) {
	host = strings.ToLower(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	best, bestScore := "", -1
	for name, e := range h.services {
		if e.Host != "" && e.Host != host {
			continue
		}
		if !strings.HasPrefix(path, e.PathPrefix) {
			continue
		}
		score := len(e.PathPrefix)
		if e.Host != "" {
			score += 1 << 20
		}
		if score > bestScore || (score == bestScore && name < best) {
			best, bestScore = name, score
		}
	}
	return best, bestScore >= 0
}

// snapshot returns the entity and the config Kong would send: the flat
// config table, schema fields without a value as null, plus the keys
// get_plugin_config adds (§3.8). A nil scope id is omitted.
func (h *Host) snapshot(service string) (Service, map[string]any, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.services[service]
	if !ok {
		return Service{}, nil, false
	}
	conf := map[string]any{}
	for _, f := range h.info.Fields {
		conf[f.Name] = nil
	}
	maps.Copy(conf, e.config)
	var routeID, serviceID string
	switch e.Scope {
	case ScopeService:
		serviceID = e.ServiceID
		conf["service_id"] = serviceID
	case ScopeRoute:
		routeID = e.RouteID
		conf["route_id"] = routeID
	}
	conf["plugin_instance_name"] = e.instanceName
	conf["__plugin_id"] = e.PluginID
	conf["__ws_id"] = h.wsID
	// kong.db.plugins:cache_key: plugins:<name>:<route>:<service>:<consumer>:<ws>.
	conf["__key__"] = fmt.Sprintf("plugins:%s:%s:%s::%s", h.info.Name, routeID, serviceID, h.wsID)
	conf["__seq__"] = e.seq
	return e.Service, conf, true
}

// AddConsumer adds a consumer; an empty ID gets a new UUID, returned.
func (h *Host) AddConsumer(c Consumer) (Consumer, error) {
	if c.ID == "" {
		c.ID = NewUUID()
	}
	if !IsUUID(c.ID) {
		return Consumer{}, fmt.Errorf("konghost: consumer id %q is not a UUID", c.ID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.consumers {
		if o.ID == c.ID || (c.Username != "" && o.Username == c.Username) ||
			(c.CustomID != "" && o.CustomID == c.CustomID) {
			return Consumer{}, fmt.Errorf("konghost: consumer %+v conflicts with %+v", c, o)
		}
	}
	h.consumers = append(h.consumers, c)
	return c, nil
}

// DeleteConsumer removes the consumer with this id or username.
func (h *Host) DeleteConsumer(ref string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range h.consumers {
		if c.ID == ref || c.Username == ref {
			h.consumers = append(h.consumers[:i], h.consumers[i+1:]...)
			return true
		}
	}
	return false
}

// Consumers lists the consumer table.
func (h *Host) Consumers() []Consumer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Consumer(nil), h.consumers...)
}

func (h *Host) consumerBy(match func(Consumer) bool) (Consumer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.consumers {
		if match(c) {
			return c, true
		}
	}
	return Consumer{}, false
}
