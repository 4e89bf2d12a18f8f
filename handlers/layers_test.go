package handlers_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// sqlCalls are the query-building and executing methods of bun and database/sql; a handler that
// calls one runs SQL itself.
var sqlCalls = map[string]bool{
	"NewSelect": true, "NewInsert": true, "NewUpdate": true, "NewDelete": true, "NewRaw": true, "NewMerge": true,
	"NewValues": true, "ExecContext": true, "QueryContext": true, "QueryRowContext": true,
	"RunInTx": true, "BeginTx": true, "Tx": true,
}

// auditWrites are the models functions that write audit events; the use cases call them.
var auditWrites = map[string]bool{"Record": true, "RecordPlatform": true, "RecordSupportView": true}

// TestHandlersRunNoSQLAndWriteNoAudit: handlers parse the request, call a models use case and
// render; the SQL and the audit events of a use case live in models beside its rules.
func TestHandlersRunNoSQLAndWriteNoAudit(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "models" {
				if auditWrites[sel.Sel.Name] {
					t.Errorf("%s: handler writes an audit event (models.%s); move it into the models use case", fset.Position(call.Pos()), sel.Sel.Name)
				}
				return true
			}
			if sqlCalls[sel.Sel.Name] {
				t.Errorf("%s: handler runs SQL (.%s); move it into a models function", fset.Position(call.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked %d handler files; run from the handlers directory", checked)
	}
}
