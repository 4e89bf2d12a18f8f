package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// The capacity figures (-capacity): what one call of each case writes, and what a row costs on
// disk. They are counted, not timed, so the machine's load does not change them.
//
// Rows written come from PostgreSQL's per-table counters (pg_stat_user_tables: inserted, updated
// and deleted tuples, trigger-written rows included). A backend reports them when a transaction
// ends at most once a second, and an idle one within ten seconds, so each case is followed by a
// settle before the counters are read again. WAL bytes are the write-ahead log's growth over the
// case (pg_current_wal_lsn), everything the calls made the server write durably. The private
// cluster has nothing else writing, so the figures are the calls' own; on a shared server (-db)
// other databases' WAL adds to them.

// statsSettle is how long a case's counters take to reach the statistics views: an idle backend
// reports within 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL).
const statsSettle = 11500 * time.Millisecond

// settle waits until what has been written is in the statistics views.
func settle(ctx context.Context) error {
	select {
	case <-time.After(statsSettle):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tableWrites is a snapshot of each table's write counters.
type tableWrites map[string][3]int64 // inserted, updated, deleted

func (st *stage) tableWrites(ctx context.Context) (tableWrites, int64, error) {
	out := tableWrites{}
	// A fresh snapshot of the statistics, not the one this transaction may have cached.
	if _, err := st.owner.ExecContext(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return nil, 0, err
	}
	rows, err := st.owner.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE schemaname = 'public'`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v [3]int64
		if err := rows.Scan(&name, &v[0], &v[1], &v[2]); err != nil {
			return nil, 0, err
		}
		out[name] = v
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var wal int64
	err = st.owner.QueryRowContext(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").Scan(&wal)
	return out, wal, err
}

// capacityRow is one case's writes per call.
type capacityRow struct {
	name        string
	calls       int64
	roundTrips  float64
	rows        float64            // rows written per call, all tables
	byTable     map[string]float64 // per table, rows written per call
	walPerCall  float64            // bytes
	writeTxCall float64
}

// measureCapacity runs each chosen case for the timed duration at the first concurrency, once,
// without warm-up, and counts what it wrote.
func measureCapacity(ctx context.Context, cfg config, st *stage, log *slog.Logger) ([]capacityRow, error) {
	all := st.env.cases()
	cfg.warmup = 0 // every call the counters see is one the window counts
	// What the seed and the set-up wrote reaches the counters before the first case's window.
	if err := settle(ctx); err != nil {
		return nil, err
	}
	var out []capacityRow
	loggedIn := false
	for _, k := range cfg.cases {
		c := all[k]
		if c.group == "floor" {
			continue
		}
		r := &row{c: c, conns: cfg.conns[0]}
		if c.group == "pages" && !loggedIn {
			// The clients' log-ins are set-up, not page views: made, and their writes settled,
			// before the counters are read.
			if err := st.env.sessions.ensure(ctx, r.conns); err != nil {
				return nil, err
			}
			if err := settle(ctx); err != nil {
				return nil, err
			}
			loggedIn = true
		}
		t0, wal0, err := st.tableWrites(ctx)
		if err != nil {
			return nil, err
		}
		w, err := measureOnce(ctx, cfg, st, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		// What the calls leave to the background (leased calls handed back, a count written) is
		// theirs too: finish it, then let the counters reach the views.
		st.srv.Keys.ForgetAll()
		if err := st.srv.Meter.Close(ctx); err != nil {
			return nil, err
		}
		log.Info("capacity: settling the statistics", "case", c.name, "calls", w.calls, "wait", statsSettle)
		if err := settle(ctx); err != nil {
			return nil, err
		}
		t1, wal1, err := st.tableWrites(ctx)
		if err != nil {
			return nil, err
		}
		calls := w.calls
		cr := capacityRow{name: c.name, calls: w.calls, roundTrips: perCall(w.wire.RoundTrips, w.calls),
			byTable: map[string]float64{}, walPerCall: float64(wal1-wal0) / float64(calls),
			writeTxCall: perCall(w.writeTx, w.calls)}
		for name, v1 := range t1 {
			v0 := t0[name]
			n := (v1[0] - v0[0]) + (v1[1] - v0[1]) + (v1[2] - v0[2])
			if n > 0 {
				cr.byTable[name] = float64(n) / float64(calls)
				cr.rows += float64(n) / float64(calls)
			}
		}
		out = append(out, cr)
	}
	return out, nil
}

// rowCost is a table's size per row in the seeded database.
type rowCost struct {
	table                 string
	rows                  int64
	heapPerRow, allPerRow float64 // bytes: the table alone, and with its indexes and TOAST
}

func (st *stage) rowCosts(ctx context.Context) ([]rowCost, error) {
	if _, err := st.owner.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	rows, err := st.owner.QueryContext(ctx, `SELECT c.relname, c.reltuples::bigint,
		  pg_relation_size(c.oid), pg_total_relation_size(c.oid)
		FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltuples >= 1000
		ORDER BY pg_total_relation_size(c.oid) DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rowCost
	for rows.Next() {
		var rc rowCost
		var heap, all int64
		if err := rows.Scan(&rc.table, &rc.rows, &heap, &all); err != nil {
			return nil, err
		}
		rc.heapPerRow, rc.allPerRow = float64(heap)/float64(rc.rows), float64(all)/float64(rc.rows)
		out = append(out, rc)
	}
	return out, rows.Err()
}

func printCapacity(out io.Writer, cfg config, st *stage, caps []capacityRow, costs []rowCost) {
	fmt.Fprintf(out, "\nAtrium capacity figures, %s: %s; each case %s at %d clients, no warm-up, counted (not timed)\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), st.dbDesc, cfg.duration, cfg.conns[0])
	fmt.Fprintln(out, "| case | calls | round trips/call | write tx/call | rows written/call | WAL bytes/call | rows written/call, by table |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, c := range caps {
		names := make([]string, 0, len(c.byTable))
		for n := range c.byTable {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int {
			if c.byTable[a] != c.byTable[b] {
				if c.byTable[a] > c.byTable[b] {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.3g", n, c.byTable[n]))
		}
		fmt.Fprintf(out, "| %s | %d | %.2f | %.2f | %.3g | %.0f | %s |\n", c.name, c.calls, c.roundTrips, c.writeTxCall, c.rows,
			c.walPerCall, strings.Join(parts, ", "))
	}
	fmt.Fprintln(out, "\n| table (≥ 1,000 rows in the seed) | rows | bytes/row, table | bytes/row, with indexes and TOAST |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, rc := range costs {
		fmt.Fprintf(out, "| %s | %d | %.0f | %.0f |\n", rc.table, rc.rows, rc.heapPerRow, rc.allPerRow)
	}
}
