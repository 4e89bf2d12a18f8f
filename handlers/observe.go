package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/metrics"
	"atrium/models"
)

// newMetrics makes the server's Prometheus instruments: one histogram series per route of the
// table (and one for whatever no route matches), the refusal counters, and the scrape-time
// collectors of the database pool, the running tasks and the job queue.
func (s *Server) newMetrics() *metrics.Metrics {
	routes := make([]metrics.Route, 0, len(table))
	for _, r := range table {
		routes = append(routes, metrics.Route{Method: r.method, Path: r.path.Pattern()})
	}
	pools := map[string]*sql.DB{"app": s.DB.DB}
	if s.Cfg.Replica != nil {
		pools["replica"] = s.Cfg.Replica.DB
	}
	return metrics.New(routes, metrics.Sources{
		Pools: pools,
		RunningTasks: func(ctx context.Context) (n int64, err error) {
			err = models.ReadAcrossTenants(ctx, s.DB, "metrics: count running tasks", func(ctx context.Context, a *models.AllTenants) error {
				n, err = a.RunningTasks(ctx)
				return err
			})
			return n, err
		},
		Jobs: func(ctx context.Context) ([]metrics.JobCount, error) {
			counts, err := models.JobCounts(ctx, s.DB)
			out := make([]metrics.JobCount, 0, len(counts))
			for _, c := range counts {
				out = append(out, metrics.JobCount{Queue: c.Queue, State: c.State, N: c.N})
			}
			return out, err
		},
		Log: s.Log,
	})
}

// measure is the outermost middleware when metrics are on: it times the request and records it
// under the route's pattern (echo's c.Path(), set by the router) and the answer's status class.
func (s *Server) measure(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		if !c.Response().Committed && status == http.StatusOK {
			status = 499 // nothing was written: the client went away (a canceled request)
		}
		s.metrics.Observe(c.Request().Method, c.Path(), status, time.Since(start))
		return nil
	}
}

// refused counts a refusal by a limit when metrics are on.
func (s *Server) refused(kind string) {
	if s.metrics != nil {
		s.metrics.Refused(kind)
	}
}

// MetricsHandler serves the Prometheus metrics, or 404 when Config.Metrics is off.
func (s *Server) MetricsHandler() http.Handler {
	if s.metrics == nil {
		return http.NotFoundHandler()
	}
	return s.metrics.Handler()
}
