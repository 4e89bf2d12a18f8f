package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/views/layouts"
)

// defaultReplicaMaxLag is how far behind the replica may be before the heavy reads go to the
// primary, when Config.ReplicaMaxLag is zero.
const defaultReplicaMaxLag = 30 * time.Second

// replicaCheckTimeout bounds the check of a replica that does not answer.
const replicaCheckTimeout = time.Second

// heavyRead chooses where a heavy read (support console, usage page, CSV exports) goes: the
// replica when one is configured, answers and lags at most the bound, else the primary. The note
// says which, for the page (nil without a replica).
func (s *Server) heavyRead(ctx context.Context) (*bun.DB, *layouts.ReadFrom) {
	if s.Cfg.Replica == nil {
		return s.DB, nil
	}
	bound := s.Cfg.ReplicaMaxLag
	if bound <= 0 {
		bound = defaultReplicaMaxLag
	}
	cctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	defer cancel()
	st, err := models.ReplicaPosition(cctx, s.DB, s.Cfg.Replica)
	switch {
	case err != nil:
		s.Log.Warn("read replica unavailable: reading from the primary", "error", err)
		return s.DB, &layouts.ReadFrom{Reason: "is not answering"}
	case st.Lag > bound:
		s.Log.Warn("read replica behind: reading from the primary", "lag", st.Lag.String(), "bound", bound.String())
		return s.DB, &layouts.ReadFrom{Reason: fmt.Sprintf("is more than %s behind", bound)}
	}
	return s.Cfg.Replica, &layouts.ReadFrom{Replica: true, AsOf: st.AsOf.UTC().Format("2006-01-02 15:04:05 UTC")}
}

// markReadFrom tells a CSV download where its rows came from, in headers: X-Atrium-Read-From is
// "replica" (with X-Atrium-As-Of, RFC 3339) or "primary".
func markReadFrom(c echo.Context, r *layouts.ReadFrom) {
	if r == nil {
		return
	}
	h := c.Response().Header()
	if r.Replica {
		h.Set("X-Atrium-Read-From", "replica")
		if t, err := time.Parse("2006-01-02 15:04:05 UTC", r.AsOf); err == nil {
			h.Set("X-Atrium-As-Of", t.Format(time.RFC3339))
		}
		return
	}
	h.Set("X-Atrium-Read-From", "primary")
}

// inWorkspaceOn is inWorkspace on a chosen pool (the replica for a heavy read).
func (s *Server) inWorkspaceOn(c echo.Context, db *bun.DB, fn func(ctx context.Context, tn *models.Tenant) error) error {
	m := membership(c)
	if m == nil {
		return models.ErrNoWorkspace
	}
	return models.InWorkspace(c.Request().Context(), db, m.ID, fn)
}
