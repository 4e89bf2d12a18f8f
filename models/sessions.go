package models

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// UserSession is one signed-in browser session of a user.
type UserSession struct {
	bun.BaseModel `bun:"table:user_sessions,alias:us"`

	ID         uuid.UUID `bun:"id,pk,type:uuid"`
	UserID     uuid.UUID `bun:"user_id,type:uuid"`
	Token      string    `bun:"token"`
	CreatedAt  time.Time `bun:"created_at,nullzero,notnull"`
	LastSeenAt time.Time `bun:"last_seen_at,nullzero,notnull"`
	UserAgent  string    `bun:"user_agent"`
	IP         string    `bun:"ip"`
}

// TrackSession records a new signed-in session.
func TrackSession(ctx context.Context, db bun.IDB, userID uuid.UUID, token, userAgent, ip string, now time.Time) (*UserSession, error) {
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	s := &UserSession{ID: NewID(), UserID: userID, Token: token, UserAgent: userAgent, IP: ip, CreatedAt: now, LastSeenAt: now}
	_, err := db.NewInsert().Model(s).Exec(ctx)
	return s, err
}

// TouchSession notes activity at most once a minute, so most requests write nothing.
func TouchSession(ctx context.Context, db bun.IDB, token string, now time.Time) error {
	_, err := db.NewUpdate().Model((*UserSession)(nil)).Set("last_seen_at = ?", now).
		Where("token = ? AND last_seen_at < ?", token, now.Add(-time.Minute)).Exec(ctx)
	return err
}

// ActiveSessions lists a user's sessions that the session store still holds at now, newest
// activity first. now is the session store's clock (SessionStore.Time): the one the store set and
// checks sessions.expiry by.
func ActiveSessions(ctx context.Context, db bun.IDB, userID uuid.UUID, now time.Time) ([]UserSession, error) {
	var out []UserSession
	err := db.NewSelect().Model(&out).Where("user_id = ?", userID).
		Where("EXISTS (SELECT 1 FROM sessions s WHERE s.token = us.token AND s.expiry > ?)", now).
		Order("last_seen_at DESC").Limit(100).Scan(ctx)
	return out, err
}

// EndSessions deletes the user's sessions (all but keepToken when it is set, or only id when
// id is set) from both the session store and the list; it returns how many ended.
func EndSessions(ctx context.Context, db bun.IDB, userID uuid.UUID, id uuid.UUID, keepToken string) (int, error) {
	q := db.NewDelete().Model((*UserSession)(nil)).Where("user_id = ?", userID).Returning("token")
	if id != uuid.Nil {
		q = q.Where("id = ?", id)
	}
	if keepToken != "" {
		q = q.Where("token <> ?", keepToken)
	}
	var tokens []string
	if _, err := q.Exec(ctx, &tokens); err != nil {
		return 0, err
	}
	if len(tokens) == 0 {
		return 0, nil
	}
	_, err := db.NewDelete().TableExpr("sessions").Where("token IN (?)", bun.List(tokens)).Exec(ctx)
	return len(tokens), err
}

// ForgetSession removes a session from the list (the store deletes its own row on logout).
func ForgetSession(ctx context.Context, db bun.IDB, token string) error {
	_, err := db.NewDelete().Model((*UserSession)(nil)).Where("token = ?", token).Exec(ctx)
	return err
}

// Throttle limits: 10 failures per account and 100 per IP within 15 minutes.
const (
	ThrottleWindow     = 15 * time.Minute
	AccountMaxFailures = 10
	IPMaxFailures      = 100
)

// LoginLockedFor returns how long log-ins for this account or IP stay refused (0 when they are not).
func LoginLockedFor(ctx context.Context, db bun.IDB, email, ip string, now time.Time) (time.Duration, error) {
	return throttled(ctx, db, now, []throttleKey{{"account", email, AccountMaxFailures}, {"ip", ip, IPMaxFailures}})
}

// throttleKey is one count of login_failures: its scope, key and the most it may reach within
// ThrottleWindow.
type throttleKey struct {
	scope, key string
	max        int
}

// throttled returns how long the busiest of keys stays over its limit (0 when none is).
func throttled(ctx context.Context, db bun.IDB, now time.Time, keys []throttleKey) (time.Duration, error) {
	var wait time.Duration
	for _, c := range keys {
		if c.key == "" {
			continue
		}
		var row struct {
			N    int        `bun:"n"`
			Last *time.Time `bun:"last"`
		}
		err := db.NewRaw(`SELECT count(*) AS n, max(at) AS last FROM login_failures
			WHERE scope = ? AND key = ? AND at > ?`, c.scope, c.key, now.Add(-ThrottleWindow)).Scan(ctx, &row)
		if err != nil {
			return 0, err
		}
		if row.N >= c.max && row.Last != nil {
			wait = max(wait, row.Last.Add(ThrottleWindow).Sub(now))
		}
	}
	return wait, nil
}

// RecordLoginFailure counts a failed log-in against the account and the IP.
func RecordLoginFailure(ctx context.Context, db bun.IDB, email, ip string, now time.Time) error {
	return recordFailure(ctx, db, now, "account", email, "ip", ip)
}

// recordFailure counts one failure against two scopes' keys. Old counts are deleted by the
// retention sweep (RunRetention), never here.
func recordFailure(ctx context.Context, db bun.IDB, now time.Time, scope1, key1, scope2, key2 string) error {
	_, err := db.NewRaw(`INSERT INTO login_failures (scope, key, at) VALUES (?, ?, ?), (?, ?, ?)`,
		scope1, key1, now, scope2, key2, now).Exec(ctx)
	return err
}

// ClearLoginFailures forgets an account's failures after a successful log-in.
func ClearLoginFailures(ctx context.Context, db bun.IDB, email string) error {
	_, err := db.NewRaw(`DELETE FROM login_failures WHERE scope = 'account' AND key = ?`, email).Exec(ctx)
	return err
}
