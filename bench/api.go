package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"atrium/models"
)

// The api section's fixed sizes: a run takes a few seconds on a laptop.
const (
	apiRequests    = 2000 // per measured case, after apiWarmup
	apiWarmup      = 200
	apiConcurrency = 8
	apiWorkspaces  = 50  // other tenants, so the tables are not one workspace's
	apiAgentsEach  = 200 // agents per other tenant
	apiAgentsOwn   = 1000
)

// benchAPI measures an authenticated, metered GET /api/v1/agents next to the floor under it: a
// bare echo handler on the same kind of loopback server, and a plain primary-key select on the same
// database, all in one run. The bench workspace is on the enterprise tier, so no call is refused
// (an unlimited tier is still counted in usage_hourly, so the metering write is measured).
func benchAPI(ctx context.Context, env *Env) error {
	start := time.Now()
	token, wsID, agentID, err := seedAPI(ctx, env)
	if err != nil {
		return err
	}
	env.Log.Info("seeded", "workspaces", apiWorkspaces+1, "agents", apiWorkspaces*apiAgentsEach+apiAgentsOwn,
		"took", time.Since(start).Round(time.Millisecond))

	bare := echo.New()
	bare.HideBanner = true
	bare.GET("/bare", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"id": agentID.String(), "name": "agent", "status": "active"})
	})
	bareSrv := httptest.NewServer(bare)
	defer bareSrv.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: apiConcurrency, MaxConnsPerHost: apiConcurrency}}
	get := func(url string) func(context.Context) error {
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", url, res.StatusCode)
			}
			return err
		}
	}
	pkSelect := func(ctx context.Context) error {
		var a models.Agent
		return env.Owner.NewRaw("SELECT id, name, status, created_at FROM agents WHERE workspace_id = ? AND id = ?", wsID, agentID).
			Scan(ctx, &a.ID, &a.Name, &a.Status, &a.CreatedAt)
	}
	cases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"bare echo handler (HTTP, JSON, no database)", get(bareSrv.URL + "/bare")},
		{"plain primary-key select (agents, owner pool)", pkSelect},
		{"GET /api/v1/agents/:id (key, metering, RLS tx)", get(env.URL + "/api/v1/agents/" + agentID.String())},
		{"GET /api/v1/agents (the same, a page of 50)", get(env.URL + "/api/v1/agents")},
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		if results[i], err = measure(ctx, c.name, c.fn); err != nil {
			return err
		}
	}
	var calls int64
	if err := env.Owner.NewRaw("SELECT coalesce(sum(api_calls), 0) FROM usage_hourly WHERE workspace_id = ?", wsID).Scan(ctx, &calls); err != nil {
		return err
	}
	want := int64(2 * (apiRequests + apiWarmup))
	if calls != want {
		return fmt.Errorf("usage_hourly counted %d calls, want %d", calls, want)
	}

	fmt.Fprintf(env.Out, "%d requests per case after %d warm-up, %d concurrent clients, loopback, GOMAXPROCS=%d, enterprise tier (never 429)\n\n",
		apiRequests, apiWarmup, apiConcurrency, runtime.GOMAXPROCS(0))
	w := tabwriter.NewWriter(env.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\treq/s\tp50\tp99\tp50 ÷ bare\tp50 ÷ select\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%.1f×\t%.1f×\t\n", r.name, r.rps, ms(r.p50), ms(r.p99),
			ratio(r.p50, results[0].p50), ratio(r.p50, results[1].p50))
	}
	w.Flush()
	api := results[3]
	fmt.Fprintf(env.Out, "\nmetered GET /api/v1/agents: %.1f%% of the bare handler's throughput, %.1f%% of the primary-key select's; %d calls counted exactly in usage_hourly\n",
		100*api.rps/results[0].rps, 100*api.rps/results[1].rps, calls)
	return nil
}

// seedAPI makes the data set: other tenants with agents, and the bench workspace (enterprise)
// with its agents and a read key. It returns the key, the workspace and one of its agents.
func seedAPI(ctx context.Context, env *Env) (token string, wsID, agentID uuid.UUID, err error) {
	owner, err := models.CreateUser(ctx, env.App, models.NewUser{Email: "bench-" + uuid.NewString()[:8] + "@example.com",
		Name: "Bench Owner", Password: "bench password, not secret"})
	if err != nil {
		return "", uuid.Nil, uuid.Nil, err
	}
	addAgents := func(ws uuid.UUID, n int) (first uuid.UUID, err error) {
		err = models.InWorkspace(ctx, env.App, ws, func(ctx context.Context, tx bun.Tx) error {
			agents := make([]models.Agent, n)
			for i := range agents {
				agents[i] = models.Agent{ID: models.NewID(), Name: fmt.Sprintf("agent %d", i), Status: "active"}
			}
			first = agents[n/2].ID
			_, err := tx.NewInsert().Model(&agents).Exec(ctx)
			return err
		})
		return first, err
	}
	for i := 0; i < apiWorkspaces; i++ {
		ws, err := models.CreateWorkspace(ctx, env.App, owner, fmt.Sprintf("Tenant %d", i), fmt.Sprintf("tenant-%d", i))
		if err != nil {
			return "", uuid.Nil, uuid.Nil, err
		}
		if _, err := addAgents(ws.ID, apiAgentsEach); err != nil {
			return "", uuid.Nil, uuid.Nil, err
		}
	}
	ws, err := models.CreateWorkspace(ctx, env.App, owner, "Bench", "bench")
	if err != nil {
		return "", uuid.Nil, uuid.Nil, err
	}
	err = models.InWorkspace(ctx, env.App, ws.ID, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model(ws).Set("tier = ?", models.TierEnterprise).WherePK().Exec(ctx); err != nil {
			return err
		}
		_, token, err = models.CreateKey(ctx, tx, models.Actor{UserID: owner.ID, Role: models.RoleOwner},
			models.NewKey{Name: "bench", Scope: "read", ExpiresInDays: "7"}, env.Now())
		return err
	})
	if err != nil {
		return "", uuid.Nil, uuid.Nil, err
	}
	agentID, err = addAgents(ws.ID, apiAgentsOwn)
	if err == nil {
		_, err = env.Owner.ExecContext(ctx, "ANALYZE")
	}
	return token, ws.ID, agentID, err
}

// result is one measured case.
type result struct {
	name     string
	rps      float64
	p50, p99 time.Duration
}

// measure runs fn apiWarmup times, then apiRequests times from apiConcurrency workers, and reports
// the throughput and the latency percentiles of the measured part.
func measure(ctx context.Context, name string, fn func(context.Context) error) (result, error) {
	run := func(n int, lat []time.Duration) (time.Duration, error) {
		var next atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < apiConcurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					t0 := time.Now()
					if err := fn(ctx); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					if lat != nil {
						lat[i] = time.Since(t0)
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), firstErr
	}
	if _, err := run(apiWarmup, nil); err != nil {
		return result{}, err
	}
	lat := make([]time.Duration, apiRequests)
	took, err := run(apiRequests, lat)
	if err != nil {
		return result{}, err
	}
	slices.Sort(lat)
	return result{name: name, rps: float64(apiRequests) / took.Seconds(),
		p50: lat[apiRequests/2], p99: lat[apiRequests*99/100]}, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
