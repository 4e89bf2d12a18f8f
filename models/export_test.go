package models

import "github.com/uptrace/bun"

// HookContext binds a context to a workspace the way InWorkspace does, without the transaction,
// so a test can show what the model hooks alone do on a connection row-level security does not
// restrict. Only tests can reach it.
var HookContext = withWorkspace

// PreparesStatements reports whether db's one-round-trip reads prepare their statements.
func PreparesStatements(db *bun.DB) bool {
	_, off := noPrepare.Load(db.DB)
	return !off
}

// MembersPageSQL is the members page's statement and arguments, for a test to EXPLAIN.
var MembersPageSQL = membersPageSQL
