package models_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"atrium/models"
	"atrium/models/testdb"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// referenceTables are the tables a distributed PostgreSQL (Citus) would copy to every node rather
// than shard: global by nature, without a workspace_id. A tenant table may reference only these
// and other tenant tables.
var referenceTables = []string{"users", "workspaces", "api_key_prefixes"}

// TestCatalogTenantKeysLeadWithWorkspace walks the catalog: every table with a workspace_id column
// (a tenant table, sharded by it once distributed) has workspace_id NOT NULL, a primary key, and
// every primary key, unique constraint and unique index leading with workspace_id; every foreign
// key between tenant tables leads with workspace_id on both sides; every other foreign key of a
// tenant table points at a reference table; and no table outside the tenant tables references one.
// That is what lets every tenant table be distributed by workspace_id, co-located per workspace.
func TestCatalogTenantKeysLeadWithWorkspace(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	var tenant []string
	err := d.Owner.NewRaw(`SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND a.attname = 'workspace_id' AND NOT a.attisdropped ORDER BY 1`).Scan(ctx, &tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"workspace_members", "invitations", "api_keys", "agents", "tasks", "messages",
		"usage_hourly", "usage_monthly", "usage_daily", "audit_events"} {
		if !slices.Contains(tenant, want) {
			t.Errorf("%s has no workspace_id column", want)
		}
	}
	for _, ref := range referenceTables {
		var n int
		if err := d.Owner.NewRaw(`SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
			AND c.relname = ? AND c.relkind = 'r'`, ref).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("reference table %s does not exist", ref)
		}
		if slices.Contains(tenant, ref) {
			t.Errorf("reference table %s has a workspace_id column: it is a tenant table", ref)
		}
	}

	// workspace_id NOT NULL, and a primary key.
	var loose []struct {
		Table   string `bun:"relname"`
		NotNull bool   `bun:"attnotnull"`
		HasPK   bool   `bun:"has_pk"`
	}
	err = d.Owner.NewRaw(`SELECT c.relname, a.attnotnull,
		  EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS has_pk
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace_id'
		WHERE c.relname = ANY(?)`, pgdialect.Array(tenant)).Scan(ctx, &loose)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loose {
		if !r.NotNull {
			t.Errorf("%s.workspace_id may be NULL", r.Table)
		}
		if !r.HasPK {
			t.Errorf("%s has no primary key", r.Table)
		}
	}

	// Every unique index (primary keys and unique constraints included) leads with workspace_id.
	var unique []struct {
		Table string `bun:"relname"`
		Index string `bun:"index"`
		Def   string `bun:"def"`
	}
	err = d.Owner.NewRaw(`SELECT c.relname, i.indexrelid::regclass::text AS index, pg_get_indexdef(i.indexrelid) AS def
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace_id'
		WHERE c.relname = ANY(?) AND i.indisunique AND i.indkey[0] <> a.attnum
		ORDER BY 1, 2`, pgdialect.Array(tenant)).Scan(ctx, &unique)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range unique {
		t.Errorf("%s: unique index %s does not lead with workspace_id: %s", u.Table, u.Index, u.Def)
	}
	var checked int
	if err := d.Owner.NewRaw(`SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		WHERE c.relname = ANY(?) AND i.indisunique`, pgdialect.Array(tenant)).Scan(ctx, &checked); err != nil {
		t.Fatal(err)
	}
	if checked < len(tenant) {
		t.Fatalf("only %d unique indexes on %d tenant tables: the catalog query finds nothing", checked, len(tenant))
	}

	// Foreign keys: between tenant tables, both sides lead with workspace_id; from a tenant table to
	// another table, that table is a reference table; into a tenant table, only from tenant tables.
	var fks []struct {
		Name      string `bun:"conname"`
		From      string `bun:"from_table"`
		To        string `bun:"to_table"`
		FromFirst string `bun:"from_first"`
		ToFirst   string `bun:"to_first"`
		Def       string `bun:"def"`
	}
	err = d.Owner.NewRaw(`SELECT k.conname, f.relname AS from_table, r.relname AS to_table,
		  (SELECT attname FROM pg_attribute WHERE attrelid = k.conrelid AND attnum = k.conkey[1]) AS from_first,
		  (SELECT attname FROM pg_attribute WHERE attrelid = k.confrelid AND attnum = k.confkey[1]) AS to_first,
		  pg_get_constraintdef(k.oid) AS def
		FROM pg_constraint k JOIN pg_class f ON f.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
		WHERE k.contype = 'f' AND f.relnamespace = 'public'::regnamespace ORDER BY 1`).Scan(ctx, &fks)
	if err != nil {
		t.Fatal(err)
	}
	between := 0
	for _, fk := range fks {
		fromTenant, toTenant := slices.Contains(tenant, fk.From), slices.Contains(tenant, fk.To)
		switch {
		case fromTenant && toTenant:
			between++
			if fk.FromFirst != "workspace_id" || fk.ToFirst != "workspace_id" {
				t.Errorf("%s: a foreign key between tenant tables that does not lead with workspace_id: %s", fk.Name, fk.Def)
			}
		case fromTenant && !slices.Contains(referenceTables, fk.To):
			t.Errorf("%s: tenant table %s references %s, which is neither a tenant nor a reference table: %s", fk.Name, fk.From, fk.To, fk.Def)
		case toTenant:
			t.Errorf("%s: %s, not a tenant table, references tenant table %s: %s", fk.Name, fk.From, fk.To, fk.Def)
		}
	}
	if between < 2 {
		t.Fatalf("%d foreign keys between tenant tables, want at least tasks → agents and messages → tasks", between)
	}
}

// TestKeyPrefixesStayUniqueAcrossWorkspaces: with api_keys unique only per workspace, a key prefix
// is still unique across all of them (api_key_prefixes reserves it), so a presented key finds one
// key; a second workspace cannot take a prefix that is in use, nor one whose key is gone.
func TestKeyPrefixesStayUniqueAcrossWorkspaces(t *testing.T) {
	d := testdb.Get(t)
	ctx := testdb.Ctx(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	var prefix string
	if err := d.Owner.NewRaw("SELECT prefix FROM api_keys WHERE workspace_id = ? AND id = ?", a.ws.ID, a.rowIDs["api_keys"]).Scan(ctx, &prefix); err != nil {
		t.Fatal(err)
	}
	insert := func(ws uuid.UUID, prefix string) error {
		return models.InWorkspace(ctx, d.App, ws, func(ctx context.Context, tn *models.Tenant) error {
			k := &models.APIKey{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "copy", Prefix: prefix, SecretHash: []byte("h"), Scope: "read"}
			_, err := tn.Tx().NewInsert().Model(k).Exec(ctx)
			return err
		})
	}
	var pe *pgconn.PgError
	if err := insert(b.ws.ID, prefix); !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("another workspace's key with a prefix in use: %v, want a unique violation", err)
	}
	res, err := d.Owner.ExecContext(ctx, "DELETE FROM workspaces WHERE id = ?", a.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d workspaces, want 1", n)
	}
	if err := insert(b.ws.ID, prefix); !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("a prefix whose key is gone: %v, want a unique violation", err)
	}
	fresh := uuid.NewString()[:8]
	if err := insert(b.ws.ID, fresh); err != nil {
		t.Fatalf("a new prefix: %v", err)
	}
	var owner uuid.UUID
	if err := d.Owner.NewRaw("SELECT key_workspace_id FROM api_key_prefixes WHERE prefix = ?", fresh).Scan(ctx, &owner); err != nil || owner != b.ws.ID {
		t.Fatalf("the new prefix is reserved for %v (%v), want %v", owner, err, b.ws.ID)
	}
}
