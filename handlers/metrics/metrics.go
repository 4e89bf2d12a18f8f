// Package metrics is Atrium's Prometheus instrumentation, served on its own listen address
// (ATRIUM_METRICS_ADDR) and off unless that is set.
//
// What it measures: request durations by route template (the router's pattern, never the
// concrete path) and status class; refusals by limit (rate limit, concurrency, quota, log-in
// throttle); the database pools' use and waits; the running tasks and the background job queue
// (read by one query each at scrape time, never per request); the Go runtime and the process.
// No label carries a workspace, a user or a key, and a path no route matches is one label value,
// so the number of series is bounded by the route table.
package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Route is one route of the router: its method and pattern.
type Route struct{ Method, Path string }

// Unmatched is the route label of a request no route matched.
const Unmatched = "unmatched"

// Refusal kinds: the API's 429 rate_limited and concurrent_task_limit and 402 quota_exceeded,
// and the log-in throttle's 429.
const (
	RateLimited         = "rate_limited"
	ConcurrentTaskLimit = "concurrent_task_limit"
	QuotaExceeded       = "quota_exceeded"
	LoginThrottled      = "login_throttled"
)

// JobCount is the number of background jobs of a queue in one state.
type JobCount struct {
	Queue, State string
	N            int64
}

// Sources are what the scrape-time collectors read.
type Sources struct {
	// Pools are the database pools by name ("app").
	Pools map[string]*sql.DB
	// RunningTasks counts the running tasks of every workspace.
	RunningTasks func(ctx context.Context) (int64, error)
	// Jobs counts the job queue's jobs by queue and state.
	Jobs func(ctx context.Context) ([]JobCount, error)
	Log  *slog.Logger
}

// JobStates are the states of River's jobs the queue gauge reports (completed and cancelled jobs
// are history, not queue).
var JobStates = []string{"available", "pending", "scheduled", "running", "retryable", "discarded"}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// routeSeries holds one route's histogram children by status class, made on first use.
type routeSeries struct {
	vec   prometheus.ObserverVec // curried with route and method
	class [len(classes)]atomic.Pointer[prometheus.Observer]
}

func (r *routeSeries) observer(i int) prometheus.Observer {
	if p := r.class[i].Load(); p != nil {
		return *p
	}
	o := r.vec.WithLabelValues(classes[i])
	r.class[i].Store(&o)
	return o
}

// Metrics is one process's registry and the instruments the server feeds.
type Metrics struct {
	reg       *prometheus.Registry
	routes    map[Route]*routeSeries
	unmatched *routeSeries
	refusals  map[string]prometheus.Counter
	other     prometheus.Counter
}

// New registers the instruments for the routes and the scrape-time collectors of src.
func New(routes []Route, src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "atrium_http_request_duration_seconds",
		Help:    "Time from the request's arrival to its answer, by route template, method and status class.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "class"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "atrium_refusals_total",
		Help: "Requests refused by a limit, by kind: rate_limited, concurrent_task_limit, quota_exceeded, login_throttled, other.",
	}, []string{"kind"})
	reg.MustRegister(duration, refused,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, db := range src.Pools {
		reg.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
	if src.RunningTasks != nil || src.Jobs != nil {
		reg.MustRegister(&scrapeCollector{src: src})
	}
	m := &Metrics{reg: reg, routes: make(map[Route]*routeSeries, len(routes)), refusals: map[string]prometheus.Counter{}}
	series := func(route, method string) *routeSeries {
		return &routeSeries{vec: duration.MustCurryWith(prometheus.Labels{"route": route, "method": method})}
	}
	for _, r := range routes {
		m.routes[r] = series(r.Path, r.Method)
	}
	m.unmatched = series(Unmatched, "")
	for _, k := range []string{RateLimited, ConcurrentTaskLimit, QuotaExceeded, LoginThrottled} {
		m.refusals[k] = refused.WithLabelValues(k)
	}
	m.other = refused.WithLabelValues("other")
	return m
}

// Observe records one answered request: its route pattern (the router's, "" when none matched),
// method, status and duration. It allocates nothing once the route's class has been seen.
func (m *Metrics) Observe(method, pattern string, status int, d time.Duration) {
	rs := m.routes[Route{method, pattern}]
	if rs == nil {
		rs = m.unmatched
	}
	i := status/100 - 1
	if i < 0 || i >= len(classes) {
		i = len(classes) - 1 // a status outside 1xx–5xx is the server's fault
	}
	rs.observer(i).Observe(d.Seconds())
}

// Refused counts one refusal of kind (one of the constants; anything else counts as other).
func (m *Metrics) Refused(kind string) {
	if c := m.refusals[kind]; c != nil {
		c.Inc()
		return
	}
	m.other.Inc()
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: m.reg})
}

// Registry is the registry, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// scrapeCollector reads the running tasks and the job queue when Prometheus scrapes: one query
// each, with a short timeout, so requests never pay for them.
type scrapeCollector struct{ src Sources }

var (
	runningDesc = prometheus.NewDesc("atrium_tasks_running", "Tasks running now, in every workspace.", nil, nil)
	jobsDesc    = prometheus.NewDesc("atrium_jobs", "Background jobs (the mail outbox's deliveries) by queue and state; retryable jobs failed their last attempt and wait to retry, discarded jobs gave up.", []string{"queue", "state"}, nil)
	errorsDesc  = prometheus.NewDesc("atrium_metrics_query_errors", "1 when a scrape-time query of this scrape failed (the gauge it feeds is missing), else 0.", []string{"query"}, nil)
)

// scrapeTimeout bounds each scrape-time query.
const scrapeTimeout = 3 * time.Second

func (s *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runningDesc
	ch <- jobsDesc
	ch <- errorsDesc
}

func (s *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	failed := func(query string, err error) {
		v := 0.0
		if err != nil {
			v = 1
			if s.src.Log != nil {
				s.src.Log.Warn("metrics query failed", "query", query, "error", err.Error())
			}
		}
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.GaugeValue, v, query)
	}
	if s.src.RunningTasks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		n, err := s.src.RunningTasks(ctx)
		cancel()
		if err == nil {
			ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(n))
		}
		failed("running_tasks", err)
	}
	if s.src.Jobs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		counts, err := s.src.Jobs(ctx)
		cancel()
		if err == nil {
			// Every state of every queue seen (and of the mail queue) is reported, zeros included,
			// so a rate or an alert over a state has a series before its first job.
			byQueue := map[string]map[string]int64{"mail": {}}
			for _, c := range counts {
				if byQueue[c.Queue] == nil {
					byQueue[c.Queue] = map[string]int64{}
				}
				byQueue[c.Queue][c.State] += c.N
			}
			for q, states := range byQueue {
				for _, st := range JobStates {
					ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(states[st]), q, st)
				}
			}
		}
		failed("jobs", err)
	}
}
