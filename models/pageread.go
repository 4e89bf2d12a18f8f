package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/uptrace/bun"
)

// rowScanner is one row of a statement: a *sql.Row in a workspace's transaction, a pageRows
// in a page read.
type rowScanner interface {
	Scan(dest ...any) error
}

// rowsScanner is a statement's rows: *sql.Rows in a workspace's transaction, pageRows in a page
// read.
type rowsScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// ReadPage runs fn with a Tenant for a console page's read: each statement fn runs through the
// model functions goes out together with the workspace's binding (set_config of
// app.workspace_id, transaction-local) in one message batch with one Sync, as a TenantRead's
// queries do, so each runs in an implicit transaction of its own that row-level security binds to
// ws. A page whose read is one statement costs one round trip, where InWorkspace's transaction
// costs four (BEGIN, the binding, the statement, COMMIT).
//
// Only model functions that read with one statement (queryRow, query) may run in it: one that
// needs a transaction (bun queries, writes) panics, by design, rather than run unbound. Two
// statements in one page read see two snapshots.
//
// Statements are prepared once per connection, as in InWorkspace. When the pool does not keep
// prepared statements (ATRIUM_DB_PREPARE=off, a transaction pooler), ReadPage is InWorkspace.
func ReadPage(ctx context.Context, db *bun.DB, ws uuid.UUID, fn func(ctx context.Context, tn *Tenant) error) error {
	if !prepares(db) {
		return InWorkspace(ctx, db, ws, fn)
	}
	return ReadInWorkspace(ctx, db, ws, func(ctx context.Context, r *TenantRead) error {
		return fn(ctx, &Tenant{ws: ws, prepare: true, page: r})
	})
}

// readOnlyPage is ReadPage for a support look at workspace ws: each statement also goes out with
// its binding, which makes its implicit transaction read-only as well (bindReadOnlySQL), as a
// support read narrowed to one workspace is (AllTenants.InWorkspace); a write in it fails. It is
// one round trip per statement with prepared statements or without them (a transaction pooler
// sees one transaction per batch): without, the statements and their arguments go unnamed, the
// arguments as text whose types the server infers, as the pgx exec mode does.
func readOnlyPage(ctx context.Context, db *bun.DB, ws uuid.UUID, fn func(ctx context.Context, tn *Tenant) error) error {
	return ReadInWorkspace(ctx, db, ws, func(ctx context.Context, r *TenantRead) error {
		r.readOnly = true
		return fn(ctx, &Tenant{ws: ws, readOnly: true, prepare: r.prepare, page: r})
	})
}

// PreparesStatements reports whether db keeps prepared statements on its connections (it was not
// opened with OpenOptions.NoPrepare, OpenOptions.Pooler or ATRIUM_DB_PREPARE=off): then a page
// read is one round trip per statement.
func PreparesStatements(db *bun.DB) bool { return prepares(db) }

// send runs sql with args after the workspace's binding, in one round trip, and answers the
// statement's result: args are encoded for the prepared statement's parameter types, as pgx
// encodes a query's arguments, and every column comes back in binary.
//
// planned sends the statement unnamed, with the prepared one's parameter types: the server plans
// it with these arguments (a custom plan) rather than reuse a generic plan (Tenant.queryRowPlanned).
func (r *TenantRead) send(ctx context.Context, sql string, args []any, planned bool) (*pgconn.Result, error) {
	res, err := r.sendAll(ctx, r.pageStmt(sql, args, planned))
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// sendAll sends statements made by pageStmt after the one binding, in one round trip.
func (r *TenantRead) sendAll(ctx context.Context, stmts ...stmt) ([]*pgconn.Result, error) {
	res, err := r.batchAll(ctx, stmts...)
	if err != nil {
		return nil, fmt.Errorf("page read: %w", err)
	}
	return res, nil
}

// pageStmt is a page read's statement: sql with args, prepared (its plan reused) or, planned,
// unnamed with the prepared one's parameter types. Without prepared statements (readOnlyPage on
// such a pool) it goes unnamed, its arguments encoded as text by their Go types and typed by the
// server, planned with them.
func (r *TenantRead) pageStmt(sql string, args []any, planned bool) stmt {
	return stmt{sql, func(b *pgconn.Batch, sd *pgconn.StatementDescription) error {
		var eqb pgx.ExtendedQueryBuilder
		if err := eqb.Build(r.conn.TypeMap(), sd, args); err != nil {
			return err
		}
		if sd == nil {
			b.ExecParams(sql, eqb.ParamValues, nil, eqb.ParamFormats, binaryResults)
		} else if planned {
			b.ExecParams(sql, eqb.ParamValues, sd.ParamOIDs, eqb.ParamFormats, binaryResults)
		} else {
			b.ExecPrepared(sd.Name, eqb.ParamValues, eqb.ParamFormats, binaryResults)
		}
		return nil
	}}
}

// row is queryRow in a page read.
func (r *TenantRead) row(ctx context.Context, sql string, args []any) rowScanner {
	return r.rowAs(ctx, sql, args, false)
}

// rowPlanned is queryRowPlanned in a page read.
func (r *TenantRead) rowPlanned(ctx context.Context, sql string, args []any) rowScanner {
	return r.rowAs(ctx, sql, args, true)
}

func (r *TenantRead) rowAs(ctx context.Context, sql string, args []any, planned bool) rowScanner {
	rows, err := r.rowsAs(ctx, sql, args, planned)
	if err != nil {
		return &pageRows{err: err}
	}
	rows.row = true
	return rows
}

// rows is query in a page read.
func (r *TenantRead) rows(ctx context.Context, sql string, args []any) (*pageRows, error) {
	return r.rowsAs(ctx, sql, args, false)
}

func (r *TenantRead) rowsAs(ctx context.Context, sql string, args []any, planned bool) (*pageRows, error) {
	res, err := r.send(ctx, sql, args, planned)
	if err != nil {
		return nil, err
	}
	return &pageRows{res: res, tm: r.conn.TypeMap(), at: -1}, nil
}

// pageRows hands out a page read's result, already read whole, like *sql.Rows (and, for
// queryRow, like *sql.Row: sql.ErrNoRows when there is none).
type pageRows struct {
	res   *pgconn.Result
	tm    *pgtype.Map
	at    int
	row   bool
	err   error
	plans []pgtype.ScanPlan
	types []reflect.Type
}

func (p *pageRows) Next() bool {
	if p.err != nil || p.res == nil || p.at+1 >= len(p.res.Rows) {
		return false
	}
	p.at++
	return true
}

func (p *pageRows) Scan(dest ...any) error {
	if p.err != nil {
		return p.err
	}
	if p.row {
		if len(p.res.Rows) == 0 {
			return sql.ErrNoRows
		}
		p.at = 0
	}
	if p.at < 0 || p.at >= len(p.res.Rows) {
		return errors.New("page read: Scan without a row")
	}
	fds := p.res.FieldDescriptions
	if len(dest) != len(fds) {
		return fmt.Errorf("page read: %d columns for %d destinations", len(fds), len(dest))
	}
	if p.plans == nil {
		p.plans, p.types = make([]pgtype.ScanPlan, len(fds)), make([]reflect.Type, len(fds))
	}
	vals := p.res.Rows[p.at]
	for i, fd := range fds {
		// A plan is made per column and destination type, and kept while the type stays.
		if t := reflect.TypeOf(dest[i]); p.plans[i] == nil || p.types[i] != t {
			p.plans[i], p.types[i] = p.tm.PlanScan(fd.DataTypeOID, fd.Format, dest[i]), t
		}
		if err := p.plans[i].Scan(vals[i], dest[i]); err != nil {
			return fmt.Errorf("page read: column %s: %w", fd.Name, err)
		}
	}
	return nil
}

func (p *pageRows) Err() error   { return p.err }
func (p *pageRows) Close() error { return nil }
