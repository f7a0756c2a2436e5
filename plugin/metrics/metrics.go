// Package metrics exports what the engine, its fronts and the store do as
// Prometheus metrics (docs/operating.md lists them). Labels take
// values from fixed sets only (fronts, outcomes, grants, store
// operations): never a client_id, a user id or error text.
//
// Metrics implements plugin.Observer (one call per request) and
// store.Metrics (cache lookups, database calls). On the request path it
// neither allocates nor locks: the labelled children are resolved once and
// kept in tables indexed by the label values.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

const namespace = "oauth2_password"

// Names of the metrics, for the README, the dashboard and its test.
const (
	Requests          = namespace + "_requests_total"
	RequestDuration   = namespace + "_request_duration_seconds"
	TokensIssued      = namespace + "_tokens_issued_total"
	FamilyRevocations = namespace + "_token_family_revocations_total"
	CacheLookups      = namespace + "_cache_lookups_total"
	CacheEvictions    = namespace + "_cache_evictions_total"
	StoreCalls        = namespace + "_store_calls_total"
	StoreCallDuration = namespace + "_store_call_duration_seconds"
	StoreReady        = namespace + "_store_ready"
	CacheSyncAge      = namespace + "_cache_sync_age_seconds"
	ListenerUp        = namespace + "_change_listener_up"
	ReplicaReads      = namespace + "_replica_reads_total"
	ThrottleKeys      = namespace + "_throttle_keys"
	BuildInfo         = namespace + "_build_info"
)

// buckets suit both a cached validation (about 0.1 ms in process) and a
// token issuance that waits for a database commit (ms), up to the default
// -store-timeout (2 s).
var buckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Metrics is the process's set of metrics, in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	requests   *prometheus.CounterVec   // front, outcome
	duration   *prometheus.HistogramVec // front
	issued     *prometheus.CounterVec   // grant
	replays    prometheus.Counter
	storeCalls *prometheus.CounterVec   // op, result
	storeDur   *prometheus.HistogramVec // op

	// Children resolved on first use, by label index.
	fronts, outcomes, ops, results index
	requestCells                   []atomic.Pointer[prometheus.Counter]  // front × outcome
	durationCells                  []atomic.Pointer[prometheus.Observer] // front
	storeCallCells                 []atomic.Pointer[prometheus.Counter]  // op × result
	storeDurCells                  []atomic.Pointer[prometheus.Observer] // op
	issuedPassword, issuedRefresh  prometheus.Counter
	tokenHit, tokenMiss            prometheus.Counter
	evictions                      *prometheus.CounterVec // cache
	clientHit, clientMiss          prometheus.Counter
	replicaCells                   [4]prometheus.Counter // kind (token, client) × result (hit, fallback)
}

var (
	_ plugin.Observer = (*Metrics)(nil)
	_ store.Metrics   = (*Metrics)(nil)
)

// New returns the metrics of a process running version, with Go's runtime
// and the process's own metrics.
func New(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Requests,
			Help: "Requests carried out, by front (kong, forward-auth, ext-authz-http, ext-authz-grpc, token) and outcome."},
			[]string{"front", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: RequestDuration,
			Help:    "Time from a front's first look at a request to its answer, by front.",
			Buckets: buckets}, []string{"front"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: TokensIssued,
			Help: "Tokens answered by the token endpoint, by grant (password, refresh_token)."}, []string{"grant"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{Name: FamilyRevocations,
			Help: "Token families revoked because a rotated refresh token was presented again (RFC 6819 5.2.2.3)."}),
		storeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: StoreCalls,
			Help: "Calls to the database (cache hits are not calls), by operation and result (ok, timeout, error)."},
			[]string{"op", "result"}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: StoreCallDuration,
			Help: "Duration of calls to the database, by operation.", Buckets: buckets}, []string{"op"}),
		fronts:   newIndex(plugin.Fronts()),
		outcomes: newIndex(plugin.Outcomes()),
		ops:      newIndex(store.Ops()),
		results:  newIndex([]string{store.ResultOK, store.ResultTimeout, store.ResultError}),
	}
	m.requestCells = make([]atomic.Pointer[prometheus.Counter], m.fronts.len()*m.outcomes.len())
	m.durationCells = make([]atomic.Pointer[prometheus.Observer], m.fronts.len())
	m.storeCallCells = make([]atomic.Pointer[prometheus.Counter], m.ops.len()*m.results.len())
	m.storeDurCells = make([]atomic.Pointer[prometheus.Observer], m.ops.len())

	// Series that exist from the start, so that rates and ratios over them
	// are defined before the first event.
	m.issuedPassword = m.issued.WithLabelValues("password")
	m.issuedRefresh = m.issued.WithLabelValues("refresh_token")
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{Name: CacheLookups,
		Help: "Lookups in the token and client cache, by cache (token, client) and result (hit, miss)."},
		[]string{"cache", "result"})
	m.tokenHit, m.tokenMiss = cache.WithLabelValues(store.CacheTokens, "hit"), cache.WithLabelValues(store.CacheTokens, "miss")
	m.clientHit, m.clientMiss = cache.WithLabelValues(store.CacheClients, "hit"), cache.WithLabelValues(store.CacheClients, "miss")

	replica := prometheus.NewCounterVec(prometheus.CounterOpts{Name: ReplicaReads,
		Help: "Cache-miss lookups sent to the read replica (-database-read-url), by kind (token, client) and result: hit (the replica answered), fallback (asked again of the primary: not there yet, or the replica failed)."},
		[]string{"kind", "result"})
	for i, kind := range []string{store.CacheTokens, store.CacheClients} {
		m.replicaCells[2*i] = replica.WithLabelValues(kind, "hit")
		m.replicaCells[2*i+1] = replica.WithLabelValues(kind, "fallback")
	}
	m.evictions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: CacheEvictions,
		Help: "Entries evicted to keep the caches' bound (-cache-max-entries), by cache (token, client, consumer); expired and revoked entries are not counted."},
		[]string{"cache"})
	for _, k := range []string{store.CacheTokens, store.CacheClients, store.CacheConsumers} {
		m.evictions.WithLabelValues(k)
	}

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: BuildInfo,
		Help: "Always 1; the version label says which build runs."}, []string{"version"})
	build.WithLabelValues(version).Set(1)

	m.reg.MustRegister(m.requests, m.duration, m.issued, m.replays, cache, m.evictions, m.storeCalls, m.storeDur, replica, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ReplicaRead implements store.ReplicaMetrics.
func (m *Metrics) ReplicaRead(kind string, hit bool) {
	i := 0
	if kind == store.CacheClients {
		i = 2
	}
	if !hit {
		i++
	}
	m.replicaCells[i].Inc()
}

// Registry is where the metrics are registered (the handler's Gatherer).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe implements plugin.Observer: one request a front carried out.
func (m *Metrics) Observe(o plugin.Observation) {
	f, fok := m.fronts.of(o.Front)
	out, ook := m.outcomes.of(o.Outcome)
	if fok && ook {
		cell(m.requestCells, f*m.outcomes.len()+out, func() prometheus.Counter {
			return m.requests.WithLabelValues(o.Front, o.Outcome)
		}).Inc()
	} else {
		// Not in the fixed sets: a bug, but still bounded by the code.
		m.requests.WithLabelValues(o.Front, o.Outcome).Inc()
	}
	if fok {
		cell(m.durationCells, f, func() prometheus.Observer { return m.duration.WithLabelValues(o.Front) }).Observe(o.Took.Seconds())
	}
	switch o.Outcome {
	case plugin.OutcomeIssued:
		if o.Grant == "refresh_token" {
			m.issuedRefresh.Inc()
		} else {
			m.issuedPassword.Inc()
		}
	case plugin.OutcomeRefreshReplayed:
		m.replays.Inc()
	}
}

// CacheLookup implements store.Metrics.
func (m *Metrics) CacheLookup(kind string, hit bool) {
	switch {
	case kind == store.CacheTokens && hit:
		m.tokenHit.Inc()
	case kind == store.CacheTokens:
		m.tokenMiss.Inc()
	case hit:
		m.clientHit.Inc()
	default:
		m.clientMiss.Inc()
	}
}

// CacheEvicted implements store.EvictionMetrics (and the engine's consumer
// cache's). Evictions happen on a miss's insert: the label lookup is not on
// the hit path.
func (m *Metrics) CacheEvicted(kind string) { m.evictions.WithLabelValues(kind).Inc() }

// StoreCall implements store.Metrics.
func (m *Metrics) StoreCall(op string, took time.Duration, result string) {
	o, ook := m.ops.of(op)
	r, rok := m.results.of(result)
	if !ook || !rok {
		m.storeCalls.WithLabelValues(op, result).Inc()
		m.storeDur.WithLabelValues(op).Observe(took.Seconds())
		return
	}
	cell(m.storeCallCells, o*m.results.len()+r, func() prometheus.Counter {
		return m.storeCalls.WithLabelValues(op, result)
	}).Inc()
	cell(m.storeDurCells, o, func() prometheus.Observer { return m.storeDur.WithLabelValues(op) }).Observe(took.Seconds())
}

// StoreState is what the store gauges read at scrape time (store.Lazy).
type StoreState interface {
	Ready() bool
	SyncAge() time.Duration
}

// WatchStore adds the gauges of s: whether it is open, and how old the
// cache's view of the change feed is.
func (m *Metrics) WatchStore(s StoreState) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: StoreReady,
			Help: "1 once the store is open and migrated, else 0 (requests that need it are answered 503)."},
			func() float64 {
				if s.Ready() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: CacheSyncAge,
			Help: "Seconds since the last successful read of the change feed began: how late a revocation made elsewhere may be honoured here."},
			func() float64 { return s.SyncAge().Seconds() }),
	)
	if l, ok := s.(interface{ ListenerUp() bool }); ok {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ListenerUp,
			Help: "1 while the PostgreSQL LISTEN session is open and hears its own probe (revocations elsewhere honoured within milliseconds), else 0: reconnecting, switched off behind pgbouncer, or the embedded store (the change-feed poll, -cache-sync-interval, covers)."},
			func() float64 {
				if l.ListenerUp() {
					return 1
				}
				return 0
			}))
	}
}

// EngineState is what the engine gauges read at scrape time
// (plugin.Engine).
type EngineState interface {
	ThrottledKeys() int
}

// WatchEngine adds the gauges of e.
func (m *Metrics) WatchEngine(e EngineState) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ThrottleKeys,
		Help: "Client ids and client IPs whose failed attempts are tracked in memory (bounded by -throttle-max-keys)."},
		func() float64 { return float64(e.ThrottledKeys()) }))
}

// cell returns the child at cells[i], resolving it with get on first use.
// Two first uses at once both resolve it; the vector returns the same
// child to both.
func cell[T any](cells []atomic.Pointer[T], i int, get func() T) T {
	if p := cells[i].Load(); p != nil {
		return *p
	}
	v := get()
	cells[i].Store(&v)
	return v
}

// index numbers a fixed set of label values.
type index map[string]int

func newIndex(values []string) index {
	ix := make(index, len(values))
	for i, v := range values {
		ix[v] = i
	}
	return ix
}

func (ix index) of(v string) (int, bool) {
	i, ok := ix[v]
	return i, ok
}

func (ix index) len() int { return len(ix) }
