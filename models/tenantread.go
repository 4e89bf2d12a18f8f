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
	// readOnly: each statement's implicit transaction is also made read-only by its binding
	// (readOnlyPage, support's look at a workspace).
	readOnly bool
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
	_, off := noPrepare.Load(db.DB)
	return onPgxConn(ctx, db, "read in workspace", func(conn *pgx.Conn) error {
		return fn(ctx, &TenantRead{ws: ws, conn: conn, prepare: !off})
	})
}

// onPgxConn runs fn on one pgx connection of db's pool, held for fn alone; what names the caller
// in errors.
func onPgxConn(ctx context.Context, db *bun.DB, what string, fn func(conn *pgx.Conn) error) error {
	c, err := db.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%s needs pgx connections, not %T", what, dc)
		}
		return fn(sc.Conn())
	})
}

// binaryResults asks for every column in binary, which decodes without parsing text.
var binaryResults = []int16{1}

const bindSQL = "SELECT set_config('app.workspace_id', $1, true)"

// bindReadOnlySQL is bindSQL that also makes the implicit transaction read-only, as BEGIN READ
// ONLY does (transaction_read_only, transaction-local like the binding): a write in the statements
// that follow fails.
const bindReadOnlySQL = "SELECT set_config('app.workspace_id', $1, true), set_config('transaction_read_only', 'on', true)"

// crossTenantReadSQL opens a statement's implicit transaction to every workspace's rows for reading
// (app.cross_tenant, as ReadAcrossTenants sets it) and makes it read-only, both transaction-local.
const crossTenantReadSQL = "SELECT set_config('app.cross_tenant', 'read', true), set_config('transaction_read_only', 'on', true)"

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

// batchAll sends the workspace's binding (read-only too for readOnlyPage) and the statements,
// each added by its add, in one message batch with one Sync: one round trip, one implicit
// transaction. It answers their results in order. When the pool keeps prepared statements all are
// prepared once per connection and each add gets its statement's description; otherwise sd is nil
// and all go unnamed (boundBatch).
func (r *TenantRead) batchAll(ctx context.Context, stmts ...stmt) ([]*pgconn.Result, error) {
	bind := bindSQL
	if r.readOnly {
		bind = bindReadOnlySQL
	}
	return boundBatch(ctx, r.conn, r.prepare, bind, [][]byte{[]byte(r.ws.String())}, stmts...)
}

// boundBatch sends the binding statement bind (with its text parameters bindArgs) and the
// statements after it in one message batch with one Sync: one round trip, one implicit
// transaction, so what bind sets (transaction-local) holds for exactly these statements. With
// prepare all are prepared once per connection and each statement's add gets its description;
// otherwise sd is nil and all go unnamed. It answers the statements' results in order.
func boundBatch(ctx context.Context, conn *pgx.Conn, prepare bool, bind string, bindArgs [][]byte, stmts ...stmt) ([]*pgconn.Result, error) {
	b := &pgconn.Batch{}
	sds := make([]*pgconn.StatementDescription, len(stmts))
	if prepare {
		bsd, err := conn.Prepare(ctx, statementName(bind), bind)
		if err != nil {
			return nil, fmt.Errorf("prepare workspace binding: %w", err)
		}
		for i, st := range stmts {
			if sds[i], err = conn.Prepare(ctx, statementName(st.sql), st.sql); err != nil {
				return nil, fmt.Errorf("prepare query: %w", err)
			}
		}
		b.ExecPrepared(bsd.Name, bindArgs, nil, nil)
	} else {
		b.ExecParams(bind, bindArgs, nil, nil, nil)
	}
	for i, st := range stmts {
		if err := st.add(b, sds[i]); err != nil {
			return nil, err
		}
	}
	results, err := conn.PgConn().ExecBatch(ctx, b).ReadAll()
	if err == nil && len(results) != len(stmts)+1 {
		err = fmt.Errorf("%d results for %d statements", len(results), len(stmts)+1)
	}
	if err != nil {
		var pe *pgconn.PgError
		if prepare && errors.As(err, &pe) && pe.Code == "0A000" {
			// A cached plan the schema has moved past: prepare them again next time.
			for _, st := range stmts {
				conn.Deallocate(ctx, statementName(st.sql))
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

// readAcrossTenantsOnce runs one statement, sql with its arguments args ($1, $2, …), that may read
// every workspace's rows, in one round trip: it goes out after crossTenantReadSQL in one message
// batch with one Sync, so it runs in an implicit transaction that is read-only and open across
// tenants for it alone, as ReadAcrossTenants' transaction is (and as that one, a transaction
// pooler sees one transaction). reason is logged. The statement goes unnamed (its text varies with
// the caller's order and filter), its arguments as text typed by the server; scan reads its rows,
// all of them already received, on the connection's type map.
func readAcrossTenantsOnce(ctx context.Context, db *bun.DB, reason, sql string, args []any, scan func(rows rowsScanner) error) error {
	ctx = crossTenant(ctx, reason)
	return onPgxConn(ctx, db, "cross-tenant read", func(conn *pgx.Conn) error {
		res, err := boundBatch(ctx, conn, false, crossTenantReadSQL, nil, stmt{sql, func(b *pgconn.Batch, _ *pgconn.StatementDescription) error {
			var eqb pgx.ExtendedQueryBuilder
			if err := eqb.Build(conn.TypeMap(), nil, args); err != nil {
				return err
			}
			b.ExecParams(sql, eqb.ParamValues, nil, eqb.ParamFormats, binaryResults)
			return nil
		}})
		if err != nil {
			return fmt.Errorf("cross-tenant read: %w", err)
		}
		return scan(&pageRows{res: res[0], tm: conn.TypeMap(), at: -1})
	})
}
