package models

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// AppRole is the runtime role: not the owner, not superuser, no BYPASSRLS.
const AppRole = "atrium_app"

// OpenOptions says how to reach the database.
type OpenOptions struct {
	// URL is the connection URL (postgres://…).
	URL string
	// SetRole, when set, is switched to on every new connection (SET ROLE), so an owner URL can
	// serve as the runtime connection.
	SetRole string
	// MaxConns caps the pool; zero means 20.
	MaxConns int
	// Dial, when set, opens the pool's network connections in place of pgx's dialer (the load
	// benchmark counts the protocol's round trips through it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Open connects bun to PostgreSQL through pgx's database/sql driver in simple-protocol mode and
// checks the connection.
func Open(ctx context.Context, opt OpenOptions) (*bun.DB, error) {
	cfg, err := pgx.ParseConfig(opt.URL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if opt.Dial != nil {
		cfg.DialFunc = opt.Dial
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "atrium"
	}
	var opts []stdlib.OptionOpenDB
	if opt.SetRole != "" {
		role := opt.SetRole
		opts = append(opts, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize())
			return err
		}))
	}
	sqldb := stdlib.OpenDB(*cfg, opts...)
	max := opt.MaxConns
	if max <= 0 {
		max = 20
	}
	sqldb.SetMaxOpenConns(max)
	sqldb.SetMaxIdleConns(max)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		// pgx spreads one failure over several lines; the operator gets one.
		return nil, fmt.Errorf("cannot connect to PostgreSQL as %s at %s:%d/%s: %s", cfg.User, cfg.Host, cfg.Port, cfg.Database,
			strings.Join(strings.Fields(err.Error()), " "))
	}
	return db, nil
}

// InWorkspace runs fn in one transaction bound to workspace ws: row-level security sees only ws
// (set_config is transaction-local, so nothing leaks to the next user of the pooled connection)
// and the context handed to fn carries ws for the model hooks.
func InWorkspace(ctx context.Context, db bun.IDB, ws uuid.UUID, fn func(ctx context.Context, tx bun.Tx) error) error {
	if ws == uuid.Nil {
		return ErrNoWorkspace
	}
	ctx = WithWorkspace(ctx, ws)
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.workspace_id', ?, true)", ws.String()); err != nil {
			return fmt.Errorf("bind transaction to workspace: %w", err)
		}
		return fn(ctx, tx)
	})
}

// ReadAcrossTenants runs fn in a READ ONLY transaction that may read every workspace's rows. It is
// for support views and platform reports; reason says why and is logged.
func ReadAcrossTenants(ctx context.Context, db bun.IDB, reason string, fn func(ctx context.Context, tx bun.Tx) error) error {
	ctx = CrossTenant(ctx, reason)
	return db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'read', true)"); err != nil {
			return fmt.Errorf("open cross-tenant read: %w", err)
		}
		return fn(ctx, tx)
	})
}
