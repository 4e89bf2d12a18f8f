package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
)

// seedSize is the data set. The defaults are the issue's: one workspace with 100,000 tasks, 1,000
// members, 60 keys and 90 days of usage, plus 10,000 small workspaces.
type seedSize struct {
	Tasks, Members, Keys, Days, Small int
}

var defaultSeed = seedSize{Tasks: 100_000, Members: 1_000, Keys: 60, Days: 90, Small: 10_000}

func (s seedSize) String() string {
	return fmt.Sprintf("one workspace with %s tasks, %s members, %d keys and %d days of hourly usage, plus %s small workspaces",
		models.FormatCount(int64(s.Tasks)), models.FormatCount(int64(s.Members)), s.Keys, s.Days, models.FormatCount(int64(s.Small)))
}

// The measured workspace and its owner.
const (
	benchSlug     = "bench"
	benchEmail    = "bench-owner@example.com"
	benchPassword = "bench password, not secret"
	benchAgents   = 200
)

// seeded is what the measured calls need from the seed.
type seeded struct {
	workspace uuid.UUID
	agents    []uuid.UUID
	// readKeys and writeKeys are whole API keys of the workspace (scope read, read_write).
	readKeys, writeKeys []string
}

// seed fills the database in one transaction of set-based statements as the owner, which must be
// a superuser (row-level security is forced on the table owner too). It goes under the model
// functions on purpose, to stay fast and independent of their signatures; triggers run as they
// would for the application's own writes, so whatever they maintain (the monthly rollup) is right.
// Ids are UUIDv7 from each row's creation time, as the application makes them, so indexes have
// the shape they would have grown.
func seed(ctx context.Context, owner *bun.DB, size seedSize, log *slog.Logger) (*seeded, error) {
	var super bool
	if err := owner.NewRaw("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(ctx, &super); err != nil {
		return nil, err
	}
	if !super {
		return nil, fmt.Errorf("the seed writes across workspaces with set-based SQL, which row-level security allows only a superuser: connect as one")
	}
	hash, err := models.HashPassword(benchPassword)
	if err != nil {
		return nil, err
	}
	out := &seeded{}
	type key struct {
		prefix string
		hash   []byte
		scope  string
	}
	keys := make([]key, size.Keys)
	for i := range keys {
		prefix, token, secretHash, err := newKey()
		if err != nil {
			return nil, err
		}
		keys[i] = key{prefix: prefix, hash: secretHash, scope: "read"}
		if i%2 == 1 {
			keys[i].scope = "read_write"
			out.writeKeys = append(out.writeKeys, token)
		} else {
			out.readKeys = append(out.readKeys, token)
		}
	}
	if len(out.readKeys) == 0 || len(out.writeKeys) == 0 {
		return nil, fmt.Errorf("the seed needs at least two keys, one per scope")
	}
	var keyRows []string
	var keyArgs []any
	for _, k := range keys {
		keyRows = append(keyRows, "(?, ?::bytea, ?::key_scope)")
		keyArgs = append(keyArgs, k.prefix, k.hash, k.scope)
	}

	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"ids", `CREATE FUNCTION pg_temp.v7(ts timestamptz, k text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
			SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7' || substr(md5(k), 1, 3)
				|| '8' || substr(md5(k), 4, 15))::uuid $$`, nil},
		{"users", `INSERT INTO users (id, email, password_hash, name, created_at)
			SELECT pg_temp.v7(now() - interval '100 days', 'user-owner'), ?, ?, 'Bench Owner', now() - interval '100 days'
			UNION ALL
			SELECT pg_temp.v7(now() - interval '99 days' + n * interval '1 minute', 'user-member-' || n),
				'bench-member-' || n || '@example.com', 'no password', 'Member ' || n, now() - interval '99 days' + n * interval '1 minute'
			FROM generate_series(1, ? - 1) AS n
			UNION ALL
			SELECT pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'user-small-' || n),
				'small-owner-' || n || '@example.com', 'no password', 'Small ' || n, now() - interval '98 days' + n * interval '1 second'
			FROM generate_series(1, ?) AS n`, []any{benchEmail, hash, size.Members, size.Small}},
		{"workspaces", `INSERT INTO workspaces (id, name, slug, tier, created_at)
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), 'Bench', ?, 'enterprise', now() - interval '100 days'
			UNION ALL
			SELECT pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'ws-small-' || n), 'Small ' || n, 'small-' || n,
				(ARRAY['free', 'free', 'starter', 'pro', 'enterprise'])[n % 5 + 1]::workspace_tier, now() - interval '98 days' + n * interval '1 second'
			FROM generate_series(1, ?) AS n`, []any{benchSlug, size.Small}},
		{"members", `INSERT INTO workspace_members (workspace_id, user_id, role, created_at, last_seen_at)
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), pg_temp.v7(now() - interval '100 days', 'user-owner'), 'owner',
				now() - interval '100 days', now()
			UNION ALL
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), u.id,
				CASE WHEN n % 100 = 0 THEN 'admin' WHEN n % 10 = 1 THEN 'viewer' ELSE 'member' END::member_role,
				u.created_at, CASE WHEN n % 7 = 0 THEN NULL ELSE now() - (n % 30) * interval '1 day' END
			FROM generate_series(1, ? - 1) AS n
			JOIN users AS u ON u.id = pg_temp.v7(now() - interval '99 days' + n * interval '1 minute', 'user-member-' || n)
			UNION ALL
			SELECT pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'ws-small-' || n),
				pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'user-small-' || n), 'owner',
				now() - interval '98 days' + n * interval '1 second', NULL
			FROM generate_series(1, ?) AS n`, []any{size.Members, size.Small}},
		{"invitations", `INSERT INTO invitations (workspace_id, id, email, role, token_hash, invited_by, created_at, expires_at)
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), pg_temp.v7(now() - n * interval '1 hour', 'invitation-' || n),
				'bench-invitee-' || n || '@example.com', 'member', encode(sha256(('invitation-' || n)::bytea), 'hex'),
				pg_temp.v7(now() - interval '100 days', 'user-owner'), now() - n * interval '1 hour', now() + interval '6 days'
			FROM generate_series(1, 20) AS n`, nil},
		{"agents", `INSERT INTO agents (workspace_id, id, name, status, created_at)
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), pg_temp.v7(now() - interval '95 days' + n * interval '1 hour', 'agent-' || n),
				'agent ' || n, 'active', now() - interval '95 days' + n * interval '1 hour'
			FROM generate_series(0, ? - 1) AS n
			UNION ALL
			SELECT pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'ws-small-' || n),
				pg_temp.v7(now() - interval '97 days' + n * interval '1 second', 'agent-small-' || n),
				'agent', 'active', now() - interval '97 days' + n * interval '1 second'
			FROM generate_series(1, ?) AS n`, []any{benchAgents, size.Small}},
		// The workspace's tasks spread over its days of history up to an hour ago; the newest 50
		// are still running. Every finished one has its minutes, which the hourly usage holds too.
		{"tasks", `INSERT INTO tasks (workspace_id, id, agent_id, status, input, created_at, started_at, finished_at, agent_minutes)
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), pg_temp.v7(t.created, 'task-' || n),
				pg_temp.v7(now() - interval '95 days' + (n % ?) * interval '1 hour', 'agent-' || (n % ?)),
				t.status, 'task ' || n, t.created, t.created + interval '1 second',
				CASE WHEN t.status = 'running' THEN NULL ELSE t.created + interval '1 second' + (n % 30 + 1) * interval '1 minute' END,
				CASE WHEN t.status = 'running' THEN 0 ELSE n % 30 + 1 END
			FROM generate_series(1, ?) AS n
			CROSS JOIN LATERAL (SELECT now() - (? - 1) * interval '1 day' + (n::float8 / ?) * ((? - 1) * interval '1 day' - interval '1 hour') AS created,
				CASE WHEN n > ? - 50 THEN 'running' WHEN n % 50 = 0 THEN 'failed' WHEN n % 97 = 0 THEN 'cancelled' ELSE 'succeeded' END::task_status AS status) AS t
			UNION ALL
			SELECT pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'ws-small-' || n),
				pg_temp.v7(now() - k * interval '2 hours', 'task-small-' || n || '-' || k),
				pg_temp.v7(now() - interval '97 days' + n * interval '1 second', 'agent-small-' || n),
				'succeeded', 'task', now() - k * interval '2 hours', now() - k * interval '2 hours', now() - k * interval '2 hours' + interval '2 minutes', 2
			FROM generate_series(1, ?) AS n CROSS JOIN generate_series(1, 3) AS k`,
			[]any{benchAgents, benchAgents, size.Tasks, size.Days, size.Tasks, size.Days, size.Tasks, size.Small}},
		{"keys", `INSERT INTO api_keys (workspace_id, id, name, prefix, secret_hash, scope, created_by, created_at)
			SELECT pg_temp.v7(now() - interval '100 days', 'ws-bench'), pg_temp.v7(now() - interval '30 days' + k.n * interval '1 minute', k.prefix),
				'key ' || k.n, k.prefix, k.hash, k.scope, pg_temp.v7(now() - interval '100 days', 'user-owner'),
				now() - interval '30 days' + k.n * interval '1 minute'
			FROM (SELECT row_number() OVER () AS n, * FROM (VALUES ` + strings.Join(keyRows, ", ") + `) AS v (prefix, hash, scope)) AS k
			UNION ALL
			SELECT pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'ws-small-' || n),
				pg_temp.v7(now() - interval '90 days' + n * interval '1 second', 'key-small-' || n), 'key',
				'atr_' || lpad(n::text, 8, '0'), sha256(('small-secret-' || n)::bytea), 'read',
				pg_temp.v7(now() - interval '98 days' + n * interval '1 second', 'user-small-' || n), now() - interval '90 days' + n * interval '1 second'
			FROM generate_series(1, ?) AS n`, append(keyArgs, size.Small)},
		// Hourly usage ending this hour: the calls made up, the minutes those of the tasks that
		// finished in the hour. The small workspaces have a day of it.
		{"hourly usage", `INSERT INTO usage_hourly (workspace_id, hour, api_calls, agent_minutes)
			SELECT w.id, h.hour, CASE WHEN w.slug = ? THEN 200 + (g * 7919) % 1800 ELSE (g * 31 + w.n) % 40 END, coalesce(t.minutes, 0)
			FROM (SELECT id, slug, CASE WHEN slug = ? THEN 0 ELSE substr(slug, 7)::int END AS n FROM workspaces) AS w
			CROSS JOIN LATERAL generate_series(0, CASE WHEN w.slug = ? THEN ? * 24 ELSE 24 END - 1) AS g
			CROSS JOIN LATERAL (SELECT date_trunc('hour', now()) - g * interval '1 hour' AS hour) AS h
			LEFT JOIN (SELECT workspace_id, date_trunc('hour', finished_at) AS hour, sum(agent_minutes) AS minutes
				FROM tasks WHERE finished_at IS NOT NULL GROUP BY 1, 2) AS t ON t.workspace_id = w.id AND t.hour = h.hour`,
			[]any{benchSlug, benchSlug, benchSlug, size.Days}},
		{"audit events", `INSERT INTO audit_events (id, workspace_id, actor_user_id, action, target, details, created_at)
			SELECT pg_temp.v7(now() - n * interval '20 minutes', 'audit-' || n), pg_temp.v7(now() - interval '100 days', 'ws-bench'),
				pg_temp.v7(now() - interval '100 days', 'user-owner'), 'member.role_change', 'bench-member-' || n || '@example.com',
				'{"from": "member", "to": "viewer"}', now() - n * interval '20 minutes'
			FROM generate_series(1, ? * 72 - 1) AS n`, []any{size.Days}},
	}
	err = owner.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, s := range steps {
			t0 := time.Now()
			res, err := tx.NewRaw(s.sql, s.args...).Exec(ctx)
			if err != nil {
				return fmt.Errorf("seed %s: %w", s.what, err)
			}
			n, _ := res.RowsAffected()
			log.Info("seed", "step", s.what, "rows", n, "took", time.Since(t0).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// What autovacuum would have done to data this old (statistics for the planner, the
	// visibility map for index-only scans), and the load's pages written now rather than by a
	// checkpoint in the middle of the figures.
	t0 := time.Now()
	if _, err := owner.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	if _, err := owner.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return nil, err
	}
	log.Info("seed", "step", "vacuum, analyze, checkpoint", "took", time.Since(t0).Round(time.Millisecond))

	if err := owner.NewRaw("SELECT id FROM workspaces WHERE slug = ?", benchSlug).Scan(ctx, &out.workspace); err != nil {
		return nil, err
	}
	if err := owner.NewRaw("SELECT id FROM agents WHERE workspace_id = ? ORDER BY id", out.workspace).Scan(ctx, &out.agents); err != nil {
		return nil, err
	}
	if len(out.agents) != benchAgents {
		return nil, fmt.Errorf("seed: %d agents in the bench workspace, want %d", len(out.agents), benchAgents)
	}
	return out, nil
}

// newKey makes a whole API key in the application's format (atr_ + 8-character public id + _ +
// 32-character secret + a 6-character CRC-32 checksum, all base62) and what the database stores
// of it. models.ParseKey checks it, so a change of format stops the bench rather than its calls.
func newKey() (prefix, token string, secretHash []byte, err error) {
	prefix = "atr_" + randomBase62(8)
	secret := randomBase62(32)
	body := prefix + "_" + secret
	n := crc32.ChecksumIEEE([]byte(body))
	sum := []byte("000000")
	for i := len(sum) - 1; i >= 0 && n > 0; i-- {
		sum[i] = base62[n%62]
		n /= 62
	}
	token = body + string(sum)
	if p, s, ok := models.ParseKey(token); !ok || p != prefix || s != secret {
		return "", "", nil, fmt.Errorf("the bench's API keys no longer parse: the key format changed, update newKey in bench/seed.go")
	}
	h := sha256.Sum256([]byte(secret))
	return prefix, token, h[:], nil
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}
