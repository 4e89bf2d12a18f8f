package models

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// KeyCacheTTL is the longest a process answers a key from memory: a revoked key is refused by
// every process at once when the revocation's notification arrives, and within this time when it
// does not.
const KeyCacheTTL = time.Second

// KeyNotifyChannel is the channel the database notifies key changes on (migration
// 20261201000101): the payload is a workspace id, or "*" for every workspace.
const KeyNotifyChannel = "atrium_keys"

// KeyCache authenticates API keys, keeping what the database said about a key for at most TTL.
// Entries are dropped at once when the database notifies a change of the key's workspace (revoke,
// roll, expiry, member removal or demotion, tier change, workspace deletion) or of a user. It
// caches only while its notification connection is listening: when that connection is lost it
// forgets everything and asks the database on every call until it listens again. Every check
// (secret, revocation, expiry, the roll's grace period, the creator's role) runs on every call;
// only the row is cached.
type KeyCache struct {
	db  bun.IDB
	ttl time.Duration
	log *slog.Logger

	mu        sync.Mutex
	listening bool
	gen       uint64 // bumped by every invalidation: a lookup older than it is not cached
	rows      map[string]cachedKey
}

type cachedKey struct {
	row  keyRow
	at   time.Time
	used bool // answered a call since it was fetched: Refresh fetches it again
}

// keyCacheMax caps the entries of one process.
const keyCacheMax = 100_000

// NewKeyCache makes a cache over db; it caches nothing until Listen is running.
func NewKeyCache(db bun.IDB, log *slog.Logger) *KeyCache {
	return &KeyCache{db: db, ttl: KeyCacheTTL, log: log, rows: map[string]cachedKey{}}
}

// SetTTL changes how long entries live (tests prove invalidation with a long one).
func (kc *KeyCache) SetTTL(d time.Duration) {
	kc.mu.Lock()
	kc.ttl = d
	kc.mu.Unlock()
}

// Listening reports whether the notification connection is up (and so whether keys are cached).
func (kc *KeyCache) Listening() bool {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return kc.listening
}

// Authenticate checks a presented key like AuthenticateKey, from the cache when it may.
func (kc *KeyCache) Authenticate(ctx context.Context, token string, now time.Time) (*APICaller, error) {
	prefix, secret, ok := ParseKey(token)
	if !ok {
		return nil, ErrBadKey
	}
	kc.mu.Lock()
	e, hit := kc.rows[prefix]
	hit = hit && kc.listening && time.Since(e.at) < kc.ttl
	if hit && !e.used {
		e.used = true
		kc.rows[prefix] = e
	}
	gen := kc.gen
	kc.mu.Unlock()
	if hit {
		return checkKey(e.row, true, prefix, secret, now)
	}
	row, found, err := lookupKey(ctx, kc.db, prefix)
	if err != nil {
		return nil, err
	}
	if found {
		kc.mu.Lock()
		if kc.listening && kc.gen == gen {
			if len(kc.rows) >= keyCacheMax {
				clear(kc.rows)
			}
			kc.rows[prefix] = cachedKey{row: row, at: time.Now()}
		}
		kc.mu.Unlock()
	}
	return checkKey(row, found, prefix, secret, now)
}

// refreshEvery is how often the keys in use are fetched again, all in one query, so that calls
// rarely find their key expired and wait for a lookup of their own. An entry is still answered
// only while younger than the TTL.
const refreshEvery = 400 * time.Millisecond

// Refresh fetches again, in one query, the cached keys that answered a call since they were
// fetched and are older than refreshEvery; the others expire. Listen runs it.
func (kc *KeyCache) Refresh(ctx context.Context) error {
	kc.mu.Lock()
	if !kc.listening {
		kc.mu.Unlock()
		return nil
	}
	gen := kc.gen
	var prefixes []string
	for p, e := range kc.rows {
		if e.used && time.Since(e.at) >= refreshEvery {
			prefixes = append(prefixes, p)
		}
	}
	kc.mu.Unlock()
	if len(prefixes) == 0 {
		return nil
	}
	at := time.Now()
	var rows []struct {
		Prefix string `bun:"prefix"`
		keyRow
	}
	err := kc.db.NewRaw(`SELECT p.prefix, k.* FROM unnest(?::text[]) AS p (prefix),
		LATERAL atrium_api_key_by_prefix_v3(p.prefix) AS k`, pgdialect.Array(prefixes)).Scan(ctx, &rows)
	if err != nil {
		return fmt.Errorf("refresh keys: %w", err)
	}
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if kc.gen != gen || !kc.listening {
		return nil // something changed meanwhile: the next call looks its key up
	}
	for _, p := range prefixes {
		delete(kc.rows, p)
	}
	for _, r := range rows {
		r.keyRow.parse()
		kc.rows[r.Prefix] = cachedKey{row: r.keyRow, at: at}
	}
	return nil
}

// Forget drops the cached keys of workspace ws in this process at once, for a change this process
// has just committed (other processes hear of it by notification).
func (kc *KeyCache) Forget(ws uuid.UUID) { kc.invalidate(ws.String()) }

// ForgetAll drops every cached key in this process.
func (kc *KeyCache) ForgetAll() { kc.invalidate("*") }

// invalidate drops the entries of workspace ws ("*": all).
func (kc *KeyCache) invalidate(payload string) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	kc.gen++
	ws, err := uuid.Parse(payload)
	if err != nil {
		clear(kc.rows)
		return
	}
	for p, e := range kc.rows {
		if e.row.WorkspaceID == ws {
			delete(kc.rows, p)
		}
	}
}

func (kc *KeyCache) setListening(on bool) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	kc.listening = on
	kc.gen++
	clear(kc.rows)
}

// Listen keeps a connection listening on KeyNotifyChannel until ctx ends, reconnecting when it is
// lost; keys are cached only while it listens. The connection is a separate one, made with the
// settings of the pool's connections.
//
// Behind a transaction pooler without a direct address (OpenOptions.ListenURL) it does not listen
// at all: it logs once that keys are not cached and returns.
func (kc *KeyCache) Listen(ctx context.Context) {
	defer kc.setListening(false)
	if _, err := poolConnConfig(ctx, kc.db); errors.Is(err, errNoListen) {
		if kc.log != nil {
			kc.log.Info("API keys are not cached: " + err.Error() + " (set DATABASE_LISTEN_URL)")
		}
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := kc.listenOnce(ctx)
		kc.setListening(false)
		if ctx.Err() != nil {
			return
		}
		if kc.log != nil {
			kc.log.Warn("key notifications lost: API keys are not cached until they are back", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenPing is how often a quiet notification connection is checked.
const listenPing = 2 * time.Second

func (kc *KeyCache) listenOnce(ctx context.Context) error {
	cfg, err := poolConnConfig(ctx, kc.db)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+KeyNotifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	kc.setListening(true)
	refresh := make(chan struct{})
	defer close(refresh)
	go func() {
		t := time.NewTicker(refreshEvery)
		defer t.Stop()
		for {
			select {
			case <-refresh:
				return
			case <-t.C:
				if err := kc.Refresh(ctx); err != nil && ctx.Err() == nil && kc.log != nil {
					kc.log.Warn("refresh API keys", "error", err)
				}
			}
		}
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n != nil:
			kc.invalidate(n.Payload)
			continue
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) && !pgconnTimeout(err):
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
}

// pgconnTimeout reports a wait that ended by its deadline rather than by a broken connection.
func pgconnTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// listenConfigs holds, for each pool Open made, the settings its notification connection is made
// with: the pool's own, with pgx's plain dialer (the pool's may count the pool's round trips, and
// this connection is not one of the pool's).
var listenConfigs sync.Map // *sql.DB → *pgx.ConnConfig

// A nil config (a pool behind a transaction pooler with no direct address) is kept as noListen.
func rememberListenConfig(db *sql.DB, cfg *pgx.ConnConfig) {
	if cfg == nil {
		listenConfigs.Store(db, noListen{})
		return
	}
	c := cfg.Copy()
	c.DialFunc = (&net.Dialer{KeepAlive: 5 * time.Minute}).DialContext
	c.OnNotification = nil
	listenConfigs.Store(db, c)
}

// poolConnConfig is the configuration of db's notification connection.
func poolConnConfig(_ context.Context, db bun.IDB) (*pgx.ConnConfig, error) {
	b, ok := db.(*bun.DB)
	if !ok {
		return nil, errors.New("key notifications need a *bun.DB")
	}
	c, ok := listenConfigs.Load(b.DB)
	if !ok {
		return nil, errors.New("key notifications need a pool opened by models.Open")
	}
	cfg, ok := c.(*pgx.ConnConfig)
	if !ok {
		return nil, errNoListen
	}
	return cfg.Copy(), nil
}

// noListen marks a pool whose notifications cannot be listened for: it reaches PostgreSQL through
// a transaction pooler and no direct address was given.
type noListen struct{}

// errNoListen: LISTEN through a transaction pooler would land on a server connection that other
// clients share, and its notifications would not come back, so the cache stays off instead.
var errNoListen = errors.New("the pool reaches PostgreSQL through a transaction pooler and no direct address for notifications is set")

// lookupKey asks the database for the key of prefix (through the SECURITY DEFINER function: the
// lookup by prefix crosses tenants by nature).
func lookupKey(ctx context.Context, db bun.IDB, prefix string) (keyRow, bool, error) {
	var rows []keyRow
	if err := db.NewRaw("SELECT * FROM atrium_api_key_by_prefix_v3(?)", prefix).Scan(ctx, &rows); err != nil {
		return keyRow{}, false, fmt.Errorf("look up key: %w", err)
	}
	if len(rows) == 0 {
		return keyRow{}, false, nil
	}
	rows[0].parse()
	return rows[0], true, nil
}

// checkKey decides whether secret opens the key row r at now. The secret's hash is compared in
// constant time, also against the previous secret while a roll's grace period lasts, and the work
// is the same for an unknown prefix.
func checkKey(r keyRow, found bool, prefix, secret string, now time.Time) (*APICaller, error) {
	h := hashSecret(secret)
	if !found {
		subtle.ConstantTimeCompare(h, noSecretHash)
		subtle.ConstantTimeCompare(h, noSecretHash)
		return nil, ErrBadKey
	}
	prev := r.PreviousSecretHash
	if len(prev) == 0 {
		prev = noSecretHash
	}
	current := subtle.ConstantTimeCompare(h, r.SecretHash) == 1
	previous := subtle.ConstantTimeCompare(h, prev) == 1 && r.PreviousValidUntil != nil && now.Before(*r.PreviousValidUntil)
	switch {
	case !current && !previous,
		r.RevokedAt != nil,
		r.ExpiresAt != nil && !now.Before(*r.ExpiresAt),
		r.CreatorRole == nil || !Role(*r.CreatorRole).Can(ActManageOwnKeys),
		r.CreatorDisabled:
		return nil, ErrBadKey
	}
	c := &APICaller{KeyID: r.ID, WorkspaceID: r.WorkspaceID, Prefix: prefix, Scope: r.Scope, Tier: r.Tier,
		LastUsedAt: r.LastUsedAt, WorkspaceSlug: r.WorkspaceSlug, KeyName: r.Name, AllowedIPs: r.allow}
	if r.RateLimitPerHour != nil {
		c.KeyLimit = *r.RateLimitPerHour
	}
	return c, nil
}
