package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// RunningTasks counts the running tasks of every workspace, for the metrics' gauge: one range of
// the partial index tasks_running_id_idx (atrium_running_tasks_count), read inside the support
// console's read-only cross-tenant read, so row-level security lets it see every workspace.
func (a *AllTenants) RunningTasks(ctx context.Context) (int64, error) {
	var n int64
	if err := a.db().NewRaw("SELECT atrium_running_tasks_count()").Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count running tasks: %w", err)
	}
	return n, nil
}

// JobCount is how many background jobs of a queue are in one state.
type JobCount struct {
	Queue string `bun:"queue"`
	State string `bun:"state"`
	N     int64  `bun:"n"`
}

// JobCounts counts River's jobs by queue and state, for the metrics' queue gauge; finished jobs
// (completed, cancelled) are history and left out. River's state index serves it.
func JobCounts(ctx context.Context, db bun.IDB) ([]JobCount, error) {
	var out []JobCount
	err := db.NewRaw(`SELECT queue, state::text AS state, count(*) AS n FROM river_job
		WHERE state NOT IN ('completed', 'cancelled') GROUP BY queue, state`).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}
