package konghost

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Host.
type Options struct {
	Bin      string   // plugin binary (its basename is the plugin name)
	Args     []string // extra start arguments, e.g. "-database-url", URL
	DumpArgs []string // extra -dump arguments (Kong's query_cmd), usually none
	Env      []string // extra environment, "K=V"
	// Log, if set, receives the plugin's output lines and the host's
	// warnings (reset-and-retry), e.g. t.Log.
	Log func(string)
	// TrustedIPs are IPs or CIDRs for kong.ip.is_trusted (Kong's
	// trusted_ips, empty by default).
	TrustedIPs []string
	NodeID     string        // kong.node.get_id; a random UUID by default
	Timeout    time.Duration // socket read timeout, default 60 s like Kong
	// Tries bounds handle_event attempts after closed connections (Kong
	// recurses without limit, §7.3). Default 3.
	Tries int
}

// Host is a Kong node with one Go plugin server: the process, the socket
// RPC, instance bookkeeping, Kong's entities and the PDK answers.
type Host struct {
	opts  Options
	info  Info
	dir   string
	proc  *Process
	rpc   *rpc
	inst  *instances
	seq   atomic.Int64 // plugins_iterator:__seq__ (§3.8)
	wsID  string
	node  string
	start time.Time

	mu        sync.Mutex
	services  map[string]*entity
	consumers []Consumer
	trusted   []*net.IPNet
	stats     Stats
	control   []ControlEvent
	logs      []LogEntry
}

// Stats aggregates every request a Host ran.
type Stats struct {
	Requests   int
	Calls      map[string]int // PDK round trips by method name
	RoundTrips int
	Starts     int // cmd_start_instance calls
	Closes     int // cmd_close_instance calls
	Resets     int // reset of all instances after a closed connection
	Retries    int
}

// ControlEvent is one instance-management step, in order.
type ControlEvent struct {
	Kind       string // "start", "close" or "reset"
	Service    string // plugin entity's service name ("" for reset)
	InstanceID int32
	Seq        int64 // __seq__ of the config started
	Err        error
}

// Start dumps the plugin info, starts the plugin process in a fresh short
// prefix directory and waits for its socket.
func Start(ctx context.Context, o Options) (*Host, error) {
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Tries == 0 {
		o.Tries = 3
	}
	if o.NodeID == "" {
		o.NodeID = NewUUID()
	}
	dir, err := os.MkdirTemp("/tmp", "kh")
	if err != nil {
		return nil, err
	}
	h := &Host{
		opts: o, dir: dir, inst: newInstances(), wsID: NewUUID(), node: o.NodeID,
		start: time.Now(), services: map[string]*entity{},
		stats: Stats{Calls: map[string]int{}},
	}
	if err := h.SetTrustedIPs(o.TrustedIPs...); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	h.info, err = dump(ctx, o.Bin, dir, o.DumpArgs, o.Env)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	h.proc, err = StartProcess(ctx, ProcessOptions{Bin: o.Bin, Dir: dir, Args: o.Args, Env: o.Env, Tee: o.Log})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Kong connects to the configured socket, which must equal the
	// plugin's <prefix>/<exe basename>.socket (§3.1); the dump's
	// SocketPath is ignored.
	h.rpc = &rpc{name: h.info.Name, pool: NewPool(h.proc.Socket()), timeout: o.Timeout}
	return h, nil
}

// Close stops the plugin process and removes the prefix directory.
func (h *Host) Close() error {
	h.rpc.pool.Close()
	err := h.proc.Close()
	os.RemoveAll(h.dir)
	return err
}

// Info is the plugin info from -dump.
func (h *Host) Info() Info { return h.info }

// Process is the supervised plugin process.
func (h *Host) Process() *Process { return h.proc }

// NodeID is what kong.node.get_id answers.
func (h *Host) NodeID() string { return h.node }

// Stats returns a copy of the aggregated counters.
func (h *Host) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	s.Calls = maps.Clone(h.stats.Calls)
	return s
}

// Control returns the instance-management steps so far, in order.
func (h *Host) Control() []ControlEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ControlEvent(nil), h.control...)
}

// Logs returns every kong.log.* entry of every request, in order.
func (h *Host) Logs() []LogEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]LogEntry(nil), h.logs...)
}

func (h *Host) recordControl(e ControlEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.control = append(h.control, e)
	switch e.Kind {
	case "start":
		h.stats.Starts++
	case "close":
		h.stats.Closes++
	case "reset":
		h.stats.Resets++
	}
}

func (h *Host) warn(format string, args ...any) {
	if h.opts.Log != nil {
		h.opts.Log("[kong] " + fmt.Sprintf(format, args...))
	}
}

// SetTrustedIPs replaces Kong's trusted_ips (IPs or CIDRs).
func (h *Host) SetTrustedIPs(list ...string) error {
	var nets []*net.IPNet
	for _, s := range list {
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return fmt.Errorf("konghost: trusted ip %q: %v", s, err)
		}
		nets = append(nets, n)
	}
	h.mu.Lock()
	h.trusted = nets
	h.mu.Unlock()
	return nil
}

func (h *Host) isTrusted(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.trusted {
		if n.Contains(p) {
			return true
		}
	}
	return false
}

// NewUUID returns a random version-4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// IsUUID is Kong's utils.is_valid_uuid: 8-4-4-4-12 hex digits.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
