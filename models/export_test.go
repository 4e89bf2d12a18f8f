package models

import "context"

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
