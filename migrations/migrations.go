// Package migrations holds Atrium's numbered SQL migrations, embedded into the binary, and the
// runner that applies them.
//
// Policy: a migration that has been applied anywhere is never edited again; every schema change
// goes in a new, later-numbered file (with its .down.sql). The baseline stands for the schema as
// it was before the first deployment.
//
// The job queue's tables (River's river_job and friends) come from River's own versioned
// migrations, which Migrate applies first, under the same lock, so a River upgrade brings its
// schema changes with it; the numbered files then grant the runtime role what it needs on them.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var sqlFiles embed.FS

// Migrations returns the embedded migration set for bun/migrate.
func Migrations() (*migrate.Migrations, error) {
	m := migrate.NewMigrations()
	if err := m.Discover(sqlFiles); err != nil {
		return nil, err
	}
	return m, nil
}

// Migrate applies every pending migration and returns their names; it runs with the owner
// connection.
func Migrate(ctx context.Context, owner *bun.DB) (applied []string, err error) {
	migs, err := Migrations()
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	m := migrate.NewMigrator(owner, migs)
	// An advisory lock keeps two starting processes from migrating at once.
	conn, err := owner.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(727465)"); err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(727465)")
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	if err := migrateQueue(ctx, owner); err != nil {
		return nil, err
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, mg := range group.Migrations {
		applied = append(applied, mg.Name)
	}
	return applied, nil
}

// Rollback undoes the last group of migrations and returns their names.
func Rollback(ctx context.Context, owner *bun.DB) ([]string, error) {
	migs, err := Migrations()
	if err != nil {
		return nil, err
	}
	m := migrate.NewMigrator(owner, migs)
	if err := m.Init(ctx); err != nil {
		return nil, err
	}
	group, err := m.Rollback(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollback: %w", err)
	}
	var names []string
	for _, mg := range group.Migrations {
		names = append(names, mg.Name)
	}
	return names, nil
}

// migrateQueue applies River's pending migrations (its job tables) with the owner connection.
func migrateQueue(ctx context.Context, owner *bun.DB) error {
	rm, err := rivermigrate.New(riverdatabasesql.New(owner.DB), &rivermigrate.Config{Logger: quietLogger()})
	if err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	return nil
}

// quietLogger drops River's informational lines; Migrate's caller reports what was applied.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
