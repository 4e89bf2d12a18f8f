package models

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// HookContext binds a context to a workspace the way InWorkspace does, without the transaction,
// so a test can show what the model hooks alone do on a connection row-level security does not
// restrict. Only tests can reach it.
var HookContext = withWorkspace

// MembersPageSQL is the members page's statement and arguments, for a test to EXPLAIN.
var MembersPageSQL = membersPageSQL

// CountAllRows counts a table's rows with no WHERE clause, through the tenant's queryRow: what
// row-level security lets the tenant see.
func CountAllRows(ctx context.Context, tn *Tenant, table string) (n int64, err error) {
	err = tn.queryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
	return n, err
}

// ReadOnlyPage is readOnlyPage (support's look at a workspace), for a test of its binding.
var ReadOnlyPage = readOnlyPage

// TenantQueryRow runs a statement through the tenant's queryRow.
func TenantQueryRow(ctx context.Context, tn *Tenant, sql string, args ...any) interface{ Scan(...any) error } {
	return tn.queryRow(ctx, sql, args...)
}

// AcrossTenantsOnce runs sql through readAcrossTenantsOnce (the support table's read) and scans
// its first row into dest.
func AcrossTenantsOnce(ctx context.Context, db *bun.DB, sql string, args []any, dest ...any) error {
	return readAcrossTenantsOnce(ctx, db, "test", sql, args, func(rows rowsScanner) error {
		if !rows.Next() {
			return errors.New("no row")
		}
		return rows.Scan(dest...)
	})
}
