package konghost

import (
	"net/http"
	"strings"
)

// Request is a client request as Kong's access phase sees it.
type Request struct {
	Method string // default GET
	Scheme string // "http" (default) or "https": the listener the client used
	Host   string // Host header without port
	Port   int    // the port Kong listened on (kong.request.get_port)
	// Path is the path as sent, still percent-encoded; default "/".
	// kong.request.get_path answers its normalized form.
	Path        string
	RawQuery    string // without "?"
	Header      http.Header
	Body        []byte
	ClientIP    string  // direct peer; default 127.0.0.1
	ClientPort  int     // default 40000
	HTTPVersion float64 // default 1.1
}

// Upstream is the request Kong would proxy, as the plugin left it.
type Upstream struct {
	Method   string
	Path     string
	RawQuery string
	Header   map[string][]string // lower-case names
	Body     []byte
}

// Exit is what the plugin passed to kong.response.exit.
type Exit struct {
	Status int
	Body   []byte
	Header http.Header
}

// Consumer is a row of Kong's consumers table.
type Consumer struct {
	ID       string `json:"id"` // a UUID
	Username string `json:"username,omitempty"`
	CustomID string `json:"custom_id,omitempty"`
}

// Credential is the credential a plugin passed to kong.client.authenticate.
type Credential struct {
	ID         string `json:"id"`
	ConsumerID string `json:"consumer_id,omitempty"`
}

// LogEntry is one kong.log.<level> call.
type LogEntry struct {
	Level   string // "err", "warn", "notice", "info", "debug", "alert", "crit"
	Message string // the arguments concatenated, as Kong's logger does
}

// Result is the outcome of one request's access phase.
type Result struct {
	// Status is what the client gets: the exit status, 500 on a Kong
	// error, else 200 from the echo service (or kong.response.set_status).
	Status int
	// Exit is set when the plugin called kong.response.exit.
	Exit *Exit
	// Failure is why Kong answered 500 (its error log line), else nil.
	Failure error
	// Proxied is true when the request would reach the service.
	Proxied bool
	// Upstream is the request as proxied (when Proxied).
	Upstream Upstream
	// ResponseHeader holds kong.response.set_header/add_header/... results,
	// applied to the final response whatever produced it.
	ResponseHeader http.Header
	// Consumer and Credential are what kong.client.authenticate recorded.
	Consumer   *Consumer
	Credential *Credential
	// Calls counts the PDK round trips by method name; RoundTrips is the sum.
	Calls      map[string]int
	RoundTrips int
	// Logs are the kong.log.* calls of this request.
	Logs []LogEntry
	// Retries counts handle_event retries after a closed connection (§4).
	Retries int
	// InstanceID is the instance the last event ran on (0 if none).
	InstanceID int32
}

// Log reports whether a log entry at level contains substr.
func (r *Result) Log(level, substr string) bool {
	for _, l := range r.Logs {
		if l.Level == level && strings.Contains(l.Message, substr) {
			return true
		}
	}
	return false
}
