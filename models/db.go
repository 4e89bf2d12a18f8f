package models

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

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
	// NoPrepare turns off the prepared statements of the one-round-trip reads (TenantRead) and of
	// the console pages' statements, for poolers that do not keep prepared statements;
	// ATRIUM_DB_PREPARE=off in the environment does the same.
	NoPrepare bool
	// TaskAsyncCommit commits task starts and completions without waiting for their WAL to reach
	// the disk (synchronous_commit off for those transactions alone); ATRIUM_TASK_SYNC_COMMIT=off in
	// the environment does the same. Off by default: a crash of the database server can then lose
	// the task starts and completions of its last moments (by default at most about 0.6 s; the
	// database stays consistent), so a client may hold the id of a task that is gone, or a
	// completion's agent-minutes may go uncounted. It is for deployments that prefer throughput
	// to that; every other write stays durable.
	TaskAsyncCommit bool
	// Pooler says URL reaches PostgreSQL through a pooler in transaction mode (pgbouncer's
	// pool_mode = transaction), where consecutive transactions of one client connection may run on
	// different server connections: statements are never prepared (as NoPrepare), no session state
	// is set (SetRole is refused: give the runtime role its own login), and the key cache listens for
	// notifications on ListenURL, or caches nothing when ListenURL is empty.
	Pooler bool
	// Tracer, when set, sees every query sent through the pool's pgx connections (pgx's
	// QueryTracer), with its SQL and arguments: for tracing, and for tests that count a query.
	Tracer pgx.QueryTracer
	// ListenURL, when set, is a direct connection to PostgreSQL (not through a pooler) for the key
	// cache's LISTEN; any role that can connect will do. Unset, the notification connection is made
	// with URL's settings, unless Pooler is set.
	ListenURL string
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
	cfg.Tracer = opt.Tracer
	cfg.RuntimeParams["timezone"] = "UTC"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "atrium"
	}
	if opt.Pooler && opt.SetRole != "" {
		return nil, fmt.Errorf("behind a transaction pooler the runtime role cannot be switched to per connection (SET ROLE is session state): connect as %s with its own login", opt.SetRole)
	}
	listenCfg := cfg
	if opt.ListenURL != "" {
		if listenCfg, err = pgx.ParseConfig(opt.ListenURL); err != nil {
			return nil, fmt.Errorf("parse notification url: %w", err)
		}
		listenCfg.RuntimeParams["timezone"] = "UTC"
		listenCfg.RuntimeParams["application_name"] = cfg.RuntimeParams["application_name"]
	} else if opt.Pooler {
		listenCfg = nil
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
	rememberListenConfig(sqldb, listenCfg)
	if opt.NoPrepare || opt.Pooler || strings.EqualFold(os.Getenv("ATRIUM_DB_PREPARE"), "off") {
		noPrepare.Store(sqldb, struct{}{})
	}
	if opt.TaskAsyncCommit || strings.EqualFold(os.Getenv("ATRIUM_TASK_SYNC_COMMIT"), "off") {
		taskAsync.Store(sqldb, struct{}{})
	}
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
		noPrepare.Delete(sqldb)
		taskAsync.Delete(sqldb)
		listenConfigs.Delete(sqldb)
		db.Close()
		// pgx spreads one failure over several lines; the operator gets one.
		return nil, fmt.Errorf("cannot connect to PostgreSQL as %s at %s:%d/%s: %s", cfg.User, cfg.Host, cfg.Port, cfg.Database,
			strings.Join(strings.Fields(err.Error()), " "))
	}
	return db, nil
}
