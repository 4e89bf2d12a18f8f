package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// ReplicaState is how far a streaming replica is behind its primary.
type ReplicaState struct {
	// AsOf is the moment of the primary's history the replica shows: the replica's present when it
	// has replayed everything the primary had logged when asked, else the commit time of the last
	// transaction it replayed.
	AsOf time.Time
	// Lag is how far AsOf is behind the replica's present (zero when it has caught up).
	Lag time.Duration
}

// ReplicaPosition asks the primary for its current WAL position, then the replica whether it has
// replayed that far and when its last replayed transaction committed. Both times are the
// database's: replication lag is a fact of the two servers, not of the caller's clock.
//
// The position is where the primary inserts WAL, not where it has written it: a transaction that
// commits without waiting for the disk (synchronous_commit off, as task starts and completions do
// with ATRIUM_TASK_SYNC_COMMIT=off) is visible on the primary before its WAL is written, and the
// written position would call a replica that lacks it caught up.
func ReplicaPosition(ctx context.Context, primary, replica bun.IDB) (ReplicaState, error) {
	var lsn string
	if err := primary.NewRaw("SELECT pg_current_wal_insert_lsn()::text").Scan(ctx, &lsn); err != nil {
		return ReplicaState{}, fmt.Errorf("primary's WAL position: %w", err)
	}
	var row struct {
		CaughtUp bool       `bun:"caught_up"`
		Now      time.Time  `bun:"now"`
		Replayed *time.Time `bun:"replayed"`
	}
	err := replica.NewRaw(`SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= ?::pg_lsn AS caught_up,
		clock_timestamp() AS now, pg_last_xact_replay_timestamp() AS replayed`, lsn).Scan(ctx, &row)
	if err != nil {
		return ReplicaState{}, fmt.Errorf("replica's replay position: %w", err)
	}
	switch {
	case row.CaughtUp:
		return ReplicaState{AsOf: row.Now}, nil
	case row.Replayed == nil:
		// Behind, and nothing replayed since it started: how far behind cannot be said.
		return ReplicaState{Lag: time.Duration(1<<63 - 1)}, nil
	}
	return ReplicaState{AsOf: *row.Replayed, Lag: max(0, row.Now.Sub(*row.Replayed))}, nil
}
