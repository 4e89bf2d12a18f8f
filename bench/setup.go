package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/uptrace/bun"

	"atrium/handlers"
	"atrium/migrations"
	"atrium/models"
	"atrium/models/pgembed"
	"atrium/models/wirecount"
)

// stage is everything the cases run against.
type stage struct {
	owner    *bun.DB // superuser owner: seed, transaction-id reads; not counted
	app      *bun.DB // the runtime role's pool, as the server uses it; counted
	floor    *pgxpool.Pool
	srv      *handlers.Server
	wire     *wirecount.Counter
	poolSize int
	env      *env
	dbDesc   string // what the database is, for the table's heading
	// loadBefore is the load average when the cases began.
	loadBefore string
	cleanups   []func()
}

func (s *stage) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
}

func setUp(ctx context.Context, cfg config, errOut io.Writer, log *slog.Logger) (st *stage, err error) {
	st = &stage{wire: &wirecount.Counter{}}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(models.MemoryLimit()) // as atrium serve does
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(models.GCPercent) // as atrium serve does
	}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	ownerURL, err := st.database(ctx, cfg.dbURL, cfg.keep, errOut)
	if err != nil {
		return nil, err
	}
	if st.owner, err = models.Open(ctx, models.OpenOptions{URL: ownerURL, MaxConns: 4}); err != nil {
		return nil, err
	}
	st.cleanups = append(st.cleanups, func() { st.owner.Close() })
	if _, err := migrations.Migrate(ctx, st.owner); err != nil {
		return nil, err
	}
	var version string
	if err := st.owner.NewRaw("SELECT current_setting('server_version')").Scan(ctx, &version); err != nil {
		return nil, err
	}
	st.dbDesc = "PostgreSQL " + version + ", " + st.dbDesc

	t0 := time.Now()
	data, err := seed(ctx, st.owner, cfg.seed, log)
	if err != nil {
		return nil, err
	}
	log.Info("seeded", "what", cfg.seed.String(), "took", time.Since(t0).Round(time.Millisecond))
	if cfg.alerts {
		// Every limit of the measured workspace alerts at 80 % and 100 %, to its owners.
		if _, err := st.owner.NewRaw(`INSERT INTO quota_alert_settings (workspace_id, limit_kind, thresholds, recipients, updated_at)
			SELECT ?, k, '{80,100}', 'owners', now() FROM unnest(ARRAY['agent_minutes', 'api_calls', 'concurrent_tasks', 'members']) AS k`,
			data.workspace).Exec(ctx); err != nil {
			return nil, fmt.Errorf("quota alerts: %w", err)
		}
		log.Info("quota alerts on", "workspace", benchSlug, "limits", 4, "thresholds", "80, 100")
	}

	if cfg.webhooks {
		// One endpoint taking every event type: each event the cases cause is recorded with its
		// delivery and job, in the transaction that causes it, as a configured workspace's are.
		if _, err := st.owner.NewRaw(`INSERT INTO webhook_endpoints (workspace_id, id, url, event_types, secret, created_at, updated_at)
			VALUES (?, gen_random_uuid(), 'https://hooks.example.com/atrium',
			  ARRAY['member.*', 'invitation.*', 'api_key.*', 'task.*', 'quota.*', 'workspace.*', 'audit.*'],
			  'whsec_' || encode(sha256(gen_random_uuid()::text::bytea), 'base64'), now(), now())`, data.workspace).Exec(ctx); err != nil {
			return nil, fmt.Errorf("webhook endpoint: %w", err)
		}
		log.Info("webhooks on", "workspace", benchSlug, "endpoints", 1, "events", "all")
	}

	// The server's pool, opened as the server opens it, with the wire counted.
	if st.app, err = models.Open(ctx, models.OpenOptions{URL: ownerURL, SetRole: models.AppRole, Dial: st.wire.Dial}); err != nil {
		return nil, err
	}
	st.cleanups = append(st.cleanups, func() { st.app.Close() })
	st.poolSize = st.app.DB.Stats().MaxOpenConnections
	if st.poolSize <= 0 {
		st.poolSize = 4 * runtime.GOMAXPROCS(0) // an unlimited pool: pgxpool's default
	}

	// The floor's pool: pgx's own, the same size, the same role, its default statement cache.
	pc, err := pgxpool.ParseConfig(ownerURL)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(st.poolSize)
	pc.ConnConfig.DialFunc = st.wire.Dial
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pc.ConnConfig.RuntimeParams["application_name"] = "atrium-bench-floor"
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{models.AppRole}.Sanitize())
		return err
	}
	if st.floor, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, err
	}
	st.cleanups = append(st.cleanups, st.floor.Close)

	var ownerID uuid.UUID
	if err := st.owner.NewRaw("SELECT id FROM users WHERE email = ?", benchEmail).Scan(ctx, &ownerID); err != nil {
		return nil, err
	}
	srv := handlers.New(st.app, handlers.Config{Version: "bench"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	st.srv = srv
	st.cleanups = append(st.cleanups, func() { srv.Close(context.Background()) })
	appHS := httptest.NewServer(srv)
	st.cleanups = append(st.cleanups, appHS.Close)
	floorHS := httptest.NewServer(floorServer(st.floor, ownerID))
	st.cleanups = append(st.cleanups, floorHS.Close)

	tr := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute, DisableCompression: true}
	st.cleanups = append(st.cleanups, tr.CloseIdleConnections)
	st.env = &env{
		appURL:   appHS.URL,
		floorURL: floorHS.URL,
		http: &http.Client{Transport: tr, Timeout: 5 * time.Minute,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		data: data,
	}
	st.env.sessions = &sessionPool{e: st.env}
	return st, nil
}

// database makes the bench's database and returns its owner URL: a fresh private cluster (the
// default), or a throwaway database on the server at url, dropped at the end.
func (st *stage) database(ctx context.Context, dbURL string, keep bool, errOut io.Writer) (string, error) {
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "atrium-bench-")
		if err != nil {
			return "", err
		}
		st.cleanups = append(st.cleanups, func() { os.RemoveAll(dir) })
		// The cluster's files belong to the postgres user when we are root; it must reach them.
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", err
		}
		fmt.Fprintln(errOut, "starting a private PostgreSQL cluster (PostgreSQL's default settings, durable) in", dir)
		pg, err := pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(dir, "data"), Log: errOut})
		if err != nil {
			return "", fmt.Errorf("%w (or give a server with -db or BENCH_DATABASE_URL)", err)
		}
		st.cleanups = append(st.cleanups, func() {
			if err := pg.Stop(); err != nil {
				fmt.Fprintln(errOut, "bench: stopping PostgreSQL:", err)
			}
			if pg.DataDir != filepath.Join(dir, "data") {
				os.RemoveAll(pg.DataDir)
			}
		})
		st.dbDesc = "private cluster, default settings"
		return pg.URL, nil
	}
	admin, err := models.Open(ctx, models.OpenOptions{URL: dbURL, MaxConns: 1})
	if err != nil {
		return "", err
	}
	st.cleanups = append(st.cleanups, func() { admin.Close() })
	b := make([]byte, 4)
	rand.Read(b)
	name := "atrium_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create the bench database: %w", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	st.cleanups = append(st.cleanups, func() {
		if keep {
			fmt.Fprintln(errOut, "kept the bench database:", u.String())
			return
		}
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	st.dbDesc = "database " + name + " on " + u.Host + " (-db)"
	return u.String(), nil
}

// nextXID is the next transaction id the cluster will hand out; reading it takes none.
func (st *stage) nextXID(ctx context.Context) (int64, error) {
	var x int64
	err := st.owner.NewRaw("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").Scan(ctx, &x)
	return x, err
}
