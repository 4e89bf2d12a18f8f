package metrics

import (
	"testing"
	"time"
)

// TestObserveIsCheapAndBounded: recording a request of a known route allocates nothing once its
// status class has been seen, and paths no route has all land on the one unmatched series.
func TestObserveIsCheapAndBounded(t *testing.T) {
	m := New([]Route{{"GET", "/api/v1/agents"}, {"POST", "/api/v1/agents"}}, Sources{})
	m.Observe("GET", "/api/v1/agents", 200, time.Millisecond)
	if allocs := testing.AllocsPerRun(1000, func() { m.Observe("GET", "/api/v1/agents", 204, time.Millisecond) }); allocs != 0 {
		t.Errorf("Observe allocates %v times per request", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() { m.Refused(RateLimited) }); allocs != 0 {
		t.Errorf("Refused allocates %v times", allocs)
	}
	for _, p := range []string{"/w/a", "/w/b", "/api/v1/*", ""} {
		m.Observe("GET", p, 404, time.Millisecond)
	}
	m.Observe("DELETE", "/api/v1/agents", 405, time.Millisecond) // a method the route lacks
	m.Observe("GET", "/api/v1/agents", 0, time.Millisecond)      // no status: counted as 5xx
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() == "atrium_http_request_duration_seconds" {
			n = len(f.GetMetric())
		}
	}
	// GET agents 2xx and 5xx, unmatched 4xx: three series.
	if n != 3 {
		t.Fatalf("%d series, want 3", n)
	}
}
