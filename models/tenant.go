package models

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// Tenant is one workspace's transaction: row-level security is bound to the workspace
// (set_config of app.workspace_id, transaction-local) and the context handed out with it carries
// the workspace for the model hooks. It is the only way to reach tenant tables: every model
// function that reads or writes them takes a *Tenant, and only InWorkspace and
// AllTenants.InWorkspace make one. A Tenant is valid only inside the function it was handed to.
//
// This makes the tenant boundary a third wall, checked by the compiler, beside the hooks and
// row-level security: a tenant function cannot be called with a bare connection or a transaction
// that is not bound to a workspace.
type Tenant struct {
	tx       bun.Tx
	ws       uuid.UUID
	readOnly bool
	// prepare: the pool keeps prepared statements (see queryRow).
	prepare bool
	// page, when set, makes this a page read (ReadPage): there is no transaction, and each
	// statement goes out together with the workspace's binding, in one round trip.
	page *TenantRead
}

// WorkspaceID is the workspace the transaction is bound to.
func (t *Tenant) WorkspaceID() uuid.UUID { return t.ws }

// ReadOnly reports whether the transaction is a support read (AllTenants.InWorkspace).
func (t *Tenant) ReadOnly() bool { return t.readOnly }

// Tx is the bound transaction itself, for fixtures, benchmarks and tests that write rows
// directly. Application code reaches tenant tables through the model functions.
func (t *Tenant) Tx() bun.Tx { return t.tx }

// db is what the model functions query through. A page read has no transaction to give: a model
// function that needs one was called inside ReadPage by mistake, and fails there, loudly, rather
// than reading outside the workspace's binding.
func (t *Tenant) db() bun.IDB {
	if t.page != nil {
		panic("models: a page read (ReadPage) runs single statements only; this model function needs InWorkspace")
	}
	return t.tx
}

// InWorkspace runs fn in one transaction bound to workspace ws: row-level security sees only ws
// (set_config is transaction-local, so nothing leaks to the next user of the pooled connection)
// and the context handed to fn carries ws for the model hooks. Model calls inside fn use that
// context and the Tenant.
func InWorkspace(ctx context.Context, db bun.IDB, ws uuid.UUID, fn func(ctx context.Context, tn *Tenant) error) error {
	if ws == uuid.Nil {
		return ErrNoWorkspace
	}
	ctx = withWorkspace(ctx, ws)
	// fn gets this ctx, not RunInTx's: inside a transaction (db a bun.Tx, the savepoint of a larger
	// change such as an account's deletion) bun hands its callback the outer transaction's
	// context, which carries no workspace.
	return db.RunInTx(ctx, nil, func(_ context.Context, tx bun.Tx) error {
		if err := bindWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		return fn(ctx, &Tenant{tx: tx, ws: ws, prepare: prepares(db)})
	})
}

// prepares reports whether statements sent on db may be prepared and kept on its connections:
// a pool opened without OpenOptions.NoPrepare (or ATRIUM_DB_PREPARE=off).
func prepares(db bun.IDB) bool {
	bdb, ok := db.(*bun.DB)
	if !ok {
		return false
	}
	_, off := noPrepare.Load(bdb.DB)
	return !off
}

// queryRow runs one statement with $n parameters in the tenant's transaction. When the pool
// keeps prepared statements it is prepared once per connection and its plan reused (a page's
// statement of many subqueries costs more to plan than to run); otherwise it goes as a simple
// query, for poolers that do not keep prepared statements.
//
// In a page read (ReadPage) the statement goes out with the workspace's binding in one round trip.
func (t *Tenant) queryRow(ctx context.Context, sql string, args ...any) rowScanner {
	if t.page != nil {
		return t.page.row(ctx, sql, args)
	}
	if t.prepare {
		args = append([]any{pgx.QueryExecModeCacheStatement}, args...)
	}
	return t.tx.Tx.QueryRowContext(ctx, sql, args...)
}

// queryRowPlanned is queryRow for a statement that is planned with its arguments at every call
// (a custom plan), never with a cached generic one. It is for statements whose right plan depends
// on the workspace: a generic plan assumes an average workspace, and for one with 100,000 tasks
// whose statistics were just refreshed by autovacuum it counted the running tasks by reading all
// of them (30 ms for 27,000 tasks) rather than the few entries of the running tasks' partial index.
// Planning each call costs a fraction of a millisecond. In a page read it is still one round trip.
func (t *Tenant) queryRowPlanned(ctx context.Context, sql string, args ...any) rowScanner {
	if t.page != nil {
		return t.page.rowPlanned(ctx, sql, args)
	}
	if t.prepare {
		args = append([]any{pgx.QueryExecModeCacheDescribe}, args...) // unnamed: planned with its arguments
	}
	return t.tx.Tx.QueryRowContext(ctx, sql, args...)
}

// queryRowWith runs sql, a statement of one row, with planned beside it: a statement of one row
// whose only parameter is $1, sql's $1 too (the workspace), planned with its argument at every
// call (see queryRowPlanned). sql's plan is reused, so that a statement of many subqueries is not
// planned again each time for the sake of one of them that needs the workspace's own statistics.
// It scans sql's row into dest and planned's into pdest.
//
// In a page read both go out with the binding in one round trip. In a transaction with prepared
// statements they are two statements; without them (simple protocol, which plans every
// statement) they are one, the two rows joined.
func (t *Tenant) queryRowWith(ctx context.Context, sql string, args []any, planned string, dest, pdest []any) error {
	switch {
	case t.page != nil:
		res, err := t.page.sendAll(ctx, t.page.pageStmt(sql, args, false), t.page.pageStmt(planned, args[:1], true))
		if err != nil {
			return err
		}
		tm := t.page.conn.TypeMap()
		if err := (&pageRows{res: res[0], tm: tm, row: true}).Scan(dest...); err != nil {
			return err
		}
		return (&pageRows{res: res[1], tm: tm, row: true}).Scan(pdest...)
	case t.prepare:
		if err := t.queryRow(ctx, sql, args...).Scan(dest...); err != nil {
			return err
		}
		return t.queryRowPlanned(ctx, planned, args[0]).Scan(pdest...)
	default:
		joined := "SELECT a.*, b.* FROM (" + sql + ") AS a, (" + planned + ") AS b"
		return t.tx.Tx.QueryRowContext(ctx, joined, args...).Scan(append(append([]any{}, dest...), pdest...)...)
	}
}

// query is queryRow for a statement of many rows.
func (t *Tenant) query(ctx context.Context, sql string, args ...any) (rowsScanner, error) {
	if t.page != nil {
		return t.page.rows(ctx, sql, args)
	}
	if t.prepare {
		args = append([]any{pgx.QueryExecModeCacheStatement}, args...)
	}
	return t.tx.Tx.QueryContext(ctx, sql, args...)
}

func bindWorkspace(ctx context.Context, tx bun.Tx, ws uuid.UUID) error {
	if _, err := tx.ExecContext(ctx, "SELECT set_config('app.workspace_id', ?, true)", ws.String()); err != nil {
		return fmt.Errorf("bind transaction to workspace: %w", err)
	}
	return nil
}

// AllTenants is a READ ONLY transaction that may read every workspace's rows, for support views
// and platform reports. Only ReadAcrossTenants makes one; it is valid only inside the function it
// was handed to.
type AllTenants struct {
	tx     bun.Tx
	reason string
}

// Tx is the read-only transaction itself, for tests that show what it may and may not do.
func (a *AllTenants) Tx() bun.Tx { return a.tx }

func (a *AllTenants) db() bun.IDB { return a.tx }

// ReadAcrossTenants runs fn in a READ ONLY transaction that may read every workspace's rows. It is
// for support views and platform reports; reason says why and is logged.
func ReadAcrossTenants(ctx context.Context, db bun.IDB, reason string, fn func(ctx context.Context, a *AllTenants) error) error {
	ctx = crossTenant(ctx, reason)
	return db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'read', true)"); err != nil {
			return fmt.Errorf("open cross-tenant read: %w", err)
		}
		return fn(ctx, &AllTenants{tx: tx, reason: reason})
	})
}

// InWorkspace narrows the cross-tenant read to workspace ws for fn: inside a savepoint the
// transaction's binding becomes the workspace's own (row-level security sees only ws, the hooks
// scope to it), so the tenant model functions read exactly what they read in the workspace's own
// transaction. The savepoint is rolled back afterwards, which restores the cross-tenant binding;
// the transaction stays read-only throughout.
func (a *AllTenants) InWorkspace(ctx context.Context, ws uuid.UUID, fn func(ctx context.Context, tn *Tenant) error) error {
	if ws == uuid.Nil {
		return ErrNoWorkspace
	}
	sp, err := a.tx.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("narrow cross-tenant read: %w", err)
	}
	err = a.narrowed(withWorkspace(ctx, ws), sp, ws, fn)
	if rerr := sp.Rollback(); rerr != nil && err == nil {
		err = fmt.Errorf("restore cross-tenant read: %w", rerr)
	}
	return err
}

func (a *AllTenants) narrowed(ctx context.Context, sp bun.Tx, ws uuid.UUID, fn func(ctx context.Context, tn *Tenant) error) error {
	if _, err := sp.ExecContext(ctx, "SELECT set_config('app.cross_tenant', '', true)"); err != nil {
		return fmt.Errorf("narrow cross-tenant read: %w", err)
	}
	if err := bindWorkspace(ctx, sp, ws); err != nil {
		return err
	}
	return fn(ctx, &Tenant{tx: sp, ws: ws, readOnly: true})
}
