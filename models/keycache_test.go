package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"atrium/models"
	"atrium/models/testdb"
)

// waitFor polls cond every 10 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestKeyCacheRevocationReachesAnotherProcessAtOnce: process B caches a key (for an hour here, so
// only the notification can end it); the key revoked through process A's pool is refused by B
// within a second. When B's notification connection is lost, B caches nothing.
func TestKeyCacheRevocationReachesAnotherProcessAtOnce(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	k, token := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 0, now)
	second, err := d.OpenApp(context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	b := models.NewKeyCache(second, nil)
	b.SetTTL(time.Hour)
	ctx, cancel := context.WithCancel(testdb.Ctx(t))
	done := make(chan struct{})
	go func() { b.Listen(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "B listens", b.Listening)
	if _, err := b.Authenticate(ctx, token, now); err != nil {
		t.Fatal(err)
	}
	err = keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.RevokeKey(ctx, tn, tm.actor(tm.owner), k.ID, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, time.Second, "B refuses the revoked key", func() bool {
		_, err := b.Authenticate(ctx, token, now)
		return errors.Is(err, models.ErrBadKey)
	})
	t.Logf("refused %s after the revocation", took)

	// A member's removal (which revokes their keys) and a demotion reach B the same way.
	_, memberKey := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.mia), "read", 0, now)
	if _, err := b.Authenticate(ctx, memberKey, now); err != nil {
		t.Fatal(err)
	}
	err = keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return models.ChangeRole(ctx, tn, tm.actor(tm.owner), tm.mia.ID, models.RoleViewer, testdb.Now(t))
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "B refuses the demoted member's key", func() bool {
		_, err := b.Authenticate(ctx, memberKey, now)
		return errors.Is(err, models.ErrBadKey)
	})

	// With the notification connection gone, nothing is cached: a change made without any
	// notification (here: notifications of the table switched off) is seen at once.
	_, adminKey := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.admin), "read", 0, now)
	if _, err := b.Authenticate(ctx, adminKey, now); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+models.KeyNotifyChannel+`'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "B notices the lost connection", func() bool { return !b.Listening() })
	if _, err := d.Owner.ExecContext(ctx, `UPDATE users SET disabled_at = now() WHERE id = ?`, tm.admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, adminKey, now); !errors.Is(err, models.ErrBadKey) {
		t.Fatalf("a disabled creator's key after the notification connection was lost: %v", err)
	}
	waitFor(t, 5*time.Second, "B listens again", b.Listening)
}
