package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
)

// TenantRead is one workspace's read in a single round trip: every query it runs is sent
// together with the workspace's binding (set_config of app.workspace_id, transaction-local) in one
// message batch with one Sync, so the two run in one implicit transaction and row-level security
// sees only the workspace. Like a Tenant, only ReadInWorkspace makes one, so a read function that
// takes a *TenantRead cannot run without the workspace's binding; its queries also name the
// workspace in their WHERE clause, as the hooks do for bun queries. A TenantRead is valid only
// inside the function it was handed to.
//
// Its statements are prepared once per connection and reused (plans are not made again), unless
// the pool was opened with prepared statements off (OpenOptions.NoPrepare, ATRIUM_DB_PREPARE=off),
// for poolers that do not keep them: then every query is sent as an unnamed statement, still in
// the same single round trip.
type TenantRead struct {
	ws      uuid.UUID
	conn    *pgx.Conn
	prepare bool
}

// WorkspaceID is the workspace the read is bound to.
func (r *TenantRead) WorkspaceID() uuid.UUID { return r.ws }

// noPrepare remembers the pools opened with prepared statements off.
var noPrepare sync.Map // *sql.DB → struct{}

// ReadInWorkspace runs fn with a read bound to workspace ws, on one connection of db's pool.
func ReadInWorkspace(ctx context.Context, db *bun.DB, ws uuid.UUID, fn func(ctx context.Context, r *TenantRead) error) error {
	if ws == uuid.Nil {
		return ErrNoWorkspace
	}
	ctx = withWorkspace(ctx, ws)
	c, err := db.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("read in workspace: %w", err)
	}
	defer c.Close()
	_, off := noPrepare.Load(db.DB)
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("read in workspace needs pgx connections, not %T", dc)
		}
		return fn(ctx, &TenantRead{ws: ws, conn: sc.Conn(), prepare: !off})
	})
}

// binaryResults asks for every column in binary, which decodes without parsing text.
var binaryResults = []int16{1}

const bindSQL = "SELECT set_config('app.workspace_id', $1, true)"

// statementName names a prepared statement by its text.
func statementName(sql string) string {
	sum := sha256.Sum256([]byte(sql))
	return "atrium_" + hex.EncodeToString(sum[:12])
}

// stmt is one statement of a batch: its text, and how it is added to the batch (stmtFn).
type stmt struct {
	sql string
	add stmtFn
}

// stmtFn adds a statement to a batch: sd is its prepared description, nil when the pool does not
// keep prepared statements.
type stmtFn func(b *pgconn.Batch, sd *pgconn.StatementDescription) error

// batch sends the workspace's binding and one statement, which add adds to the batch, in one
// message batch with one Sync (one round trip), and answers the statement's result. When the pool
// keeps prepared statements both are prepared once per connection and add gets the statement's
// description; otherwise sd is nil and both go unnamed.
func (r *TenantRead) batch(ctx context.Context, sql string, add stmtFn) (*pgconn.Result, error) {
	res, err := r.batchAll(ctx, stmt{sql, add})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// batchAll is batch for several statements after the one binding, still one round trip and one
// implicit transaction: it answers their results in order.
func (r *TenantRead) batchAll(ctx context.Context, stmts ...stmt) ([]*pgconn.Result, error) {
	bind := [][]byte{[]byte(r.ws.String())}
	b := &pgconn.Batch{}
	sds := make([]*pgconn.StatementDescription, len(stmts))
	if r.prepare {
		bsd, err := r.conn.Prepare(ctx, statementName(bindSQL), bindSQL)
		if err != nil {
			return nil, fmt.Errorf("prepare workspace binding: %w", err)
		}
		for i, st := range stmts {
			if sds[i], err = r.conn.Prepare(ctx, statementName(st.sql), st.sql); err != nil {
				return nil, fmt.Errorf("prepare query: %w", err)
			}
		}
		b.ExecPrepared(bsd.Name, bind, nil, nil)
	} else {
		b.ExecParams(bindSQL, bind, nil, nil, nil)
	}
	for i, st := range stmts {
		if err := st.add(b, sds[i]); err != nil {
			return nil, err
		}
	}
	results, err := r.conn.PgConn().ExecBatch(ctx, b).ReadAll()
	if err == nil && len(results) != len(stmts)+1 {
		err = fmt.Errorf("%d results for %d statements", len(results), len(stmts)+1)
	}
	if err != nil {
		var pe *pgconn.PgError
		if r.prepare && errors.As(err, &pe) && pe.Code == "0A000" {
			// A cached plan the schema has moved past: prepare them again next time.
			for _, st := range stmts {
				r.conn.Deallocate(ctx, statementName(st.sql))
			}
		}
		return nil, err
	}
	return results[1:], nil
}

// query runs sql with args (sent as text; the server infers their types) after the workspace's
// binding, in one round trip, and hands each row's columns, decoded into dest's pointers, to row.
// dest is reused for every row.
func (r *TenantRead) query(ctx context.Context, sql string, args []string, dest []any, row func() error) error {
	return r.queryWith(ctx, sql, args, dest, row, "", nil)
}

// queryWith is query with planned beside it, in the same round trip: a statement of one row
// whose only parameter is $1 (args[0], the workspace), sent unnamed so that it is planned with its
// argument at every call (see Tenant.queryRowWith). Its row is scanned into pdest.
func (r *TenantRead) queryWith(ctx context.Context, sql string, args []string, dest []any, row func() error, planned string, pdest []any) error {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	stmts := []stmt{{sql, func(b *pgconn.Batch, sd *pgconn.StatementDescription) error {
		if sd != nil {
			b.ExecPrepared(sd.Name, params, nil, binaryResults)
		} else {
			b.ExecParams(sql, params, nil, nil, binaryResults)
		}
		return nil
	}}}
	if planned != "" {
		stmts = append(stmts, stmt{planned, func(b *pgconn.Batch, _ *pgconn.StatementDescription) error {
			b.ExecParams(planned, params[:1], nil, nil, binaryResults)
			return nil
		}})
	}
	results, err := r.batchAll(ctx, stmts...)
	if err != nil {
		return fmt.Errorf("workspace read: %w", err)
	}
	res := results[0]
	if planned != "" {
		if err := (&pageRows{res: results[1], tm: r.conn.TypeMap(), row: true}).Scan(pdest...); err != nil {
			return fmt.Errorf("workspace read: %w", err)
		}
	}
	if len(res.Rows) > 0 && len(res.FieldDescriptions) != len(dest) {
		return fmt.Errorf("workspace read: %d columns for %d destinations", len(res.FieldDescriptions), len(dest))
	}
	tm := r.conn.TypeMap()
	plans := make([]pgtype.ScanPlan, len(res.FieldDescriptions))
	for i, fd := range res.FieldDescriptions {
		plans[i] = tm.PlanScan(fd.DataTypeOID, fd.Format, dest[i])
	}
	for _, vals := range res.Rows {
		for i, fd := range res.FieldDescriptions {
			if err := plans[i].Scan(vals[i], dest[i]); err != nil {
				return fmt.Errorf("workspace read: column %s: %w", fd.Name, err)
			}
		}
		if err := row(); err != nil {
			return err
		}
	}
	return nil
}

// ReadAgent answers one agent of the read's workspace in one round trip.
func ReadAgent(ctx context.Context, r *TenantRead, id uuid.UUID) (*Agent, error) {
	var a Agent
	found := false
	err := r.query(ctx, `SELECT a.workspace_id, a.id, a.name, a.status, a.created_at FROM agents AS a
		WHERE a.workspace_id = $1 AND a.id = $2`, []string{r.ws.String(), id.String()},
		[]any{(*[16]byte)(&a.WorkspaceID), (*[16]byte)(&a.ID), &a.Name, &a.Status, &a.CreatedAt}, func() error { found = true; return nil })
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(sql.ErrNoRows, "agent")
	}
	return &a, nil
}

// ReadAgents lists the read's workspace's agents, newest first, like ListAgents, in one round
// trip.
func ReadAgents(ctx context.Context, r *TenantRead, page Page) ([]Agent, string, error) {
	out := make([]Agent, 0, page.Limit+1)
	var a Agent
	dest := []any{(*[16]byte)(&a.WorkspaceID), (*[16]byte)(&a.ID), &a.Name, &a.Status, &a.CreatedAt}
	// uuid 'ffffffff-…' is above every id: the first page needs no second statement.
	after := page.After
	if after == uuid.Nil {
		after = uuid.Max
	}
	err := r.query(ctx, `SELECT a.workspace_id, a.id, a.name, a.status, a.created_at FROM agents AS a
		WHERE a.workspace_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3`,
		[]string{r.ws.String(), after.String(), fmt.Sprint(page.Limit + 1)}, dest,
		func() error { out = append(out, a); return nil })
	if err != nil {
		return nil, "", fmt.Errorf("list agents: %w", err)
	}
	out, next := trimPage(out, page.Limit, func(a Agent) uuid.UUID { return a.ID })
	return out, next, nil
}
