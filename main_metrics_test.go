package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/models/testdb"
)

// syncBuffer is stdout for a server running in another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeWithMetrics: atrium serve with ATRIUM_METRICS_ADDR answers Prometheus on that address
// (and not on the console's), counting the console's requests by route.
func TestServeWithMetrics(t *testing.T) {
	d := testdb.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL, "ATRIUM_ADDR": "127.0.0.1:0", "ATRIUM_METRICS_ADDR": "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"atrium", "serve"}, vars, strings.NewReader(""), &out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	app := regexp.MustCompile(`Atrium is running at (http://\S+)`)
	prom := regexp.MustCompile(`Prometheus metrics at (http://\S+)`)
	var appURL, metricsURL string
	for deadline := time.Now().Add(30 * time.Second); metricsURL == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", out.String())
		}
		if m := prom.FindStringSubmatch(out.String()); m != nil {
			metricsURL = m[1]
			appURL = app.FindStringSubmatch(out.String())[1]
		}
	}
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for range 3 {
		if status, _ := get(appURL + "/healthz"); status != 200 {
			t.Fatalf("healthz: %d", status)
		}
	}
	if status, _ := get(appURL + "/metrics"); status != 404 {
		t.Errorf("the console serves /metrics: %d", status)
	}
	status, body := get(metricsURL)
	if status != 200 || !strings.Contains(body, `atrium_http_request_duration_seconds_count{class="2xx",method="GET",route="/healthz"} 3`) ||
		!strings.Contains(body, `go_sql_open_connections{db_name="app"}`) || !strings.Contains(body, "atrium_tasks_running ") {
		t.Fatalf("metrics: %d\n%.3000s", status, body)
	}
}
