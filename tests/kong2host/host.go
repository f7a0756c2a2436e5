package kong2host

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ugorji/go/codec"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// Options configures a Host.
type Options struct {
	PluginServer string // the go-pluginserver binary (Kong's go_pluginserver_exe)
	PluginsDir   string // holds <Plugin>.so (Kong's go_plugins_dir)
	Plugin       string // the plugin name, as in Kong's plugins = bundled,<name>
	Env          []string
	// Log, if set, receives the server's output lines and the host's
	// kong.log lines, e.g. t.Log.
	Log        func(string)
	TrustedIPs []string // kong.ip.is_trusted; IPs only
	// ClientBodyBufferSize is nginx_http_client_body_buffer_size: a larger
	// body is buffered to a file, which Kong 2.8's get_raw_body refuses.
	// Default 8192, Kong 2.8's default.
	ClientBodyBufferSize int
	Timeout              time.Duration // socket timeout, default 60 s like Kong
	Tries                int           // bound of the "no plugin instance" retry, default 3
}

// Host is a Kong 2.8 node with go-pluginserver and one Go plugin.
type Host struct {
	opts   Options
	info   konghost.Info
	prefix string
	proc   *konghost.Process
	rpc    *rpc
	inst   instances

	mu        sync.Mutex
	pid       int64
	seq       int64
	services  map[string]*service
	consumers []konghost.Consumer
	control   []konghost.ControlEvent
	logs      []konghost.LogEntry
}

// Service is a declared service with the ids Kong gave its entities.
type Service struct {
	Name                         string
	ServiceID, RouteID, PluginID string
}

type service struct {
	Service
	config map[string]any
	seq    int64
}

// DumpInfo runs Kong 2.8's info_command and decodes the MessagePack object
// it prints, as process.lua's ask_info_plugin does.
func DumpInfo(ctx context.Context, pluginServer, pluginsDir, name string, env []string) (konghost.Info, error) {
	cmd := exec.CommandContext(ctx, pluginServer, "-plugins-directory", pluginsDir, "-dump-plugin-info", name)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return konghost.Info{}, fmt.Errorf("kong2host: -dump-plugin-info: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var d struct {
		Name     string
		Phases   []string
		Version  string
		Priority int
		Schema   map[string]any
	}
	if err := codec.NewDecoderBytes(stdout.Bytes(), handle).Decode(&d); err != nil {
		return konghost.Info{}, fmt.Errorf("kong2host: -dump-plugin-info output is not MessagePack: %v (stderr: %s)", err, bytes.TrimSpace(stderr.Bytes()))
	}
	// Kong only registers a plugin whose PRIORITY is set (init.lua
	// load_plugin); go-pluginserver prints an empty Name on a load error.
	if d.Name != name || d.Priority == 0 {
		return konghost.Info{}, fmt.Errorf("kong2host: no plugin %q in %s (stderr: %s)", name, pluginsDir, bytes.TrimSpace(stderr.Bytes()))
	}
	fields, err := konghost.ConfigFields(d.Schema)
	if err != nil {
		return konghost.Info{}, err
	}
	return konghost.Info{Protocol: "MsgPack:1", Name: d.Name, Phases: d.Phases, Version: d.Version,
		Priority: d.Priority, Schema: d.Schema, Fields: fields}, nil
}

// Start dumps the plugin info and starts go-pluginserver in a fresh short
// prefix directory, waiting for its socket.
func Start(ctx context.Context, o Options) (*Host, error) {
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Tries == 0 {
		o.Tries = 3
	}
	if o.ClientBodyBufferSize == 0 {
		o.ClientBodyBufferSize = 8192
	}
	info, err := DumpInfo(ctx, o.PluginServer, o.PluginsDir, o.Plugin, o.Env)
	if err != nil {
		return nil, err
	}
	prefix, err := os.MkdirTemp("/tmp", "k2")
	if err != nil {
		return nil, err
	}
	h := &Host{opts: o, info: info, prefix: prefix, inst: instances{m: map[string]*instance{}}, services: map[string]*service{}}
	h.proc, err = konghost.StartProcess(ctx, konghost.ProcessOptions{
		Bin: o.PluginServer, Dir: prefix, Args: []string{"-plugins-directory", o.PluginsDir},
		Env: o.Env, Tee: o.Log, Socket: filepath.Join(prefix, "go_pluginserver.sock"),
	})
	if err != nil {
		os.RemoveAll(prefix)
		return nil, err
	}
	h.rpc = &rpc{pool: konghost.NewPool(h.proc.Socket()), timeout: o.Timeout, onPid: h.serverPid}
	return h, nil
}

// Close stops go-pluginserver and removes the prefix directory.
func (h *Host) Close() error {
	h.rpc.pool.Close()
	err := h.proc.Close()
	os.RemoveAll(h.prefix)
	return err
}

// Info is the plugin info from -dump-plugin-info.
func (h *Host) Info() konghost.Info { return h.info }

// Prefix is the -kong-prefix directory.
func (h *Host) Prefix() string { return h.prefix }

// Process is the supervised go-pluginserver process.
func (h *Host) Process() *konghost.Process { return h.proc }

// ServerPID is the pid of the last serverPid notification.
func (h *Host) ServerPID() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pid
}

// Control returns the instance-management steps so far, in order.
func (h *Host) Control() []konghost.ControlEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]konghost.ControlEvent(nil), h.control...)
}

// Logs returns every kong.log line so far: the plugin's and the ones Kong
// writes about RPC errors.
func (h *Host) Logs() []konghost.LogEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]konghost.LogEntry(nil), h.logs...)
}

func (h *Host) log(e konghost.LogEntry) {
	h.mu.Lock()
	h.logs = append(h.logs, e)
	h.mu.Unlock()
	if h.opts.Log != nil {
		h.opts.Log("[kong " + e.Level + "] " + e.Message)
	}
}

func (h *Host) recordControl(e konghost.ControlEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.control = append(h.control, e)
}

// AddService declares a service with one route and the plugin enabled on
// the service with config (its config fields only).
func (h *Host) AddService(name string, config map[string]any) (Service, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.services[name]; dup {
		return Service{}, fmt.Errorf("kong2host: service %q exists", name)
	}
	h.seq++
	s := &service{
		Service: Service{Name: name, ServiceID: konghost.NewUUID(), RouteID: konghost.NewUUID(), PluginID: konghost.NewUUID()},
		config:  maps.Clone(config), seq: h.seq,
	}
	h.services[name] = s
	return s.Service, nil
}

// SetConfig changes a service's plugin config: a new __seq__, so the next
// request starts a new instance and closes the old one.
func (h *Host) SetConfig(name string, config map[string]any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.services[name]
	if !ok {
		return fmt.Errorf("kong2host: no service %q", name)
	}
	h.seq++
	s.config, s.seq = maps.Clone(config), h.seq
	return nil
}

// snapshot is the conf table Kong encodes for plugin.StartInstance: the
// schema's fields (null when unset), the scope ids and __key__/__seq__
// (plugins_iterator.lua get_plugin_config).
func (h *Host) snapshot(name string) (*service, map[string]any, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.services[name]
	if !ok {
		return nil, nil, false
	}
	conf := map[string]any{}
	for _, f := range h.info.Fields {
		conf[f.Name] = nil
	}
	maps.Copy(conf, s.config)
	conf["service_id"] = s.ServiceID
	conf["__key__"] = fmt.Sprintf("plugins:%s::%s::", h.info.Name, s.ServiceID)
	conf["__seq__"] = s.seq
	return s, conf, true
}

// AddConsumer adds a consumer; an empty ID gets a new UUID.
func (h *Host) AddConsumer(c konghost.Consumer) konghost.Consumer {
	if c.ID == "" {
		c.ID = konghost.NewUUID()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consumers = append(h.consumers, c)
	return c
}

func (h *Host) consumer(match func(konghost.Consumer) bool) (konghost.Consumer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.consumers {
		if match(c) {
			return c, true
		}
	}
	return konghost.Consumer{}, false
}

func (h *Host) isTrusted(ip string) bool {
	p := net.ParseIP(ip)
	for _, t := range h.opts.TrustedIPs {
		if q := net.ParseIP(t); q != nil && q.Equal(p) {
			return true
		}
	}
	return false
}

// serverPid is init.lua's rpc_notifications:serverPid: a pid other than
// the last one means go-pluginserver restarted, so every instance is gone.
func (h *Host) serverPid(pid int64) {
	h.mu.Lock()
	changed := h.pid != 0 && h.pid != pid
	h.pid = pid
	h.mu.Unlock()
	if changed {
		h.inst.mu.Lock()
		h.inst.m = map[string]*instance{}
		h.inst.mu.Unlock()
		h.recordControl(konghost.ControlEvent{Kind: "reset", Err: fmt.Errorf("serverPid %d", pid)})
	}
}

// instanceID is init.lua's get_instance_id.
func (h *Host) instanceID(ctx context.Context, s *service, conf map[string]any) (int64, error) {
	key := conf["__key__"].(string)
	seq := conf["__seq__"].(int64)
	t := &h.inst
	for {
		t.mu.Lock()
		info := t.m[key]
		if info != nil && info.id < 0 { // another request is starting it
			ch := info.ready
			t.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if info != nil && info.seq == seq {
			t.mu.Unlock()
			return info.id, nil
		}
		old := int64(-1)
		if info == nil {
			info = &instance{seq: seq}
			t.m[key] = info
		} else {
			old = info.id
		}
		info.id, info.ready = -1, make(chan struct{})
		t.mu.Unlock()

		id, err := h.startInstance(ctx, conf)
		h.recordControl(konghost.ControlEvent{Kind: "start", Service: s.Name, InstanceID: int32(id), Seq: seq, Err: err})
		t.mu.Lock()
		if err != nil {
			delete(t.m, key)
		} else {
			info.id, info.seq = id, seq
		}
		close(info.ready)
		t.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("starting instance: %w", err)
		}
		if old >= 0 {
			// Kong ignores the answer: another request may have closed it.
			_, err := h.rpc.call(ctx, "plugin.CloseInstance", old)
			h.recordControl(konghost.ControlEvent{Kind: "close", Service: s.Name, InstanceID: int32(old), Err: err})
		}
		return id, nil
	}
}

// startInstance is call_start_instance: the conf table as a JSON string.
func (h *Host) startInstance(ctx context.Context, conf map[string]any) (int64, error) {
	b, err := jsonEncode(conf)
	if err != nil {
		return 0, err
	}
	st, err := h.rpc.call(ctx, "plugin.StartInstance", map[string]any{"Name": h.info.Name, "Config": string(b)})
	if err != nil {
		return 0, err
	}
	m, _ := st.(map[string]any)
	id := toInt(m["Id"])
	if id < 0 {
		return 0, fmt.Errorf("plugin.StartInstance answered %v", st)
	}
	return id, nil
}

// reset is reset_instance: forget the instance of this key, because of err.
func (h *Host) reset(key string, err error) {
	h.inst.mu.Lock()
	delete(h.inst.m, key)
	h.inst.mu.Unlock()
	h.recordControl(konghost.ControlEvent{Kind: "reset", Err: err})
}

// isNoInstance is handle_event's test for a lost instance.
func isNoInstance(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "no plugin instance")
}
