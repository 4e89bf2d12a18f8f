package testdb

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun"

	"atrium/migrations"
	"atrium/models"
	"atrium/models/pgembed"
)

// Replicated is a primary with a streaming replica, made for one test: a private cluster started
// from the machine's binaries, migrated, and a hot standby made from it with pg_basebackup and
// started on another port (the package's shared server is left alone: a base backup copies a
// whole cluster).
type Replicated struct {
	Primary, Standby *pgembed.Cluster
	Owner            *bun.DB // the primary, as its owner
	App              *bun.DB // the primary, as the runtime role
	Replica          *bun.DB // the standby, as the runtime role
	StandbyOwner     *bun.DB // the standby, as a superuser (to pause its replay)
}

// StartReplicated makes a Replicated for t and stops it when t ends.
func StartReplicated(t testing.TB) *Replicated {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "atrium-replica-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &Replicated{}
	if r.Primary, err = pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(dir, "primary"), Fast: true}); err != nil {
		t.Fatalf("primary: %v", err)
	}
	t.Cleanup(func() { r.Primary.Stop() })
	open := func(opt models.OpenOptions) *bun.DB {
		t.Helper()
		db, err := models.Open(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	r.Owner = open(models.OpenOptions{URL: r.Primary.URL, MaxConns: 4})
	if _, err := migrations.Migrate(ctx, r.Owner); err != nil {
		t.Fatal(err)
	}
	r.App = open(models.OpenOptions{URL: r.Primary.URL, SetRole: models.AppRole, MaxConns: 10})
	if r.Standby, err = r.Primary.StartStandby(ctx, filepath.Join(dir, "standby")); err != nil {
		t.Fatalf("standby: %v", err)
	}
	t.Cleanup(func() { r.Standby.Stop() })
	r.Replica = open(models.OpenOptions{URL: r.Standby.URL, SetRole: models.AppRole, MaxConns: 4})
	r.StandbyOwner = open(models.OpenOptions{URL: r.Standby.URL, MaxConns: 1})
	return r
}
