package models_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// keyTeam is a workspace with an owner, an admin, two members and a viewer.
type keyTeam struct {
	ws                            *models.Workspace
	owner, admin, mia, max, viewr *models.User
}

func newKeyTeam(t *testing.T, db bun.IDB) *keyTeam {
	t.Helper()
	ctx := context.Background()
	tm := &keyTeam{owner: newUser(t, db), admin: newUser(t, db), mia: newUser(t, db), max: newUser(t, db), viewr: newUser(t, db)}
	slug := "keys-" + uuid.NewString()[:8]
	ws, err := models.CreateWorkspace(ctx, db, tm.owner, "Keys "+slug, slug, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	tm.ws = ws
	err = models.InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for u, r := range map[*models.User]models.Role{tm.admin: models.RoleAdmin, tm.mia: models.RoleMember, tm.max: models.RoleMember, tm.viewr: models.RoleViewer} {
			if _, err := tn.Tx().NewInsert().Model(&models.Member{CreatedAt: testdb.Clock(), UserID: u.ID, Role: r}).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func (tm *keyTeam) actor(u *models.User) models.Actor {
	role := map[*models.User]models.Role{tm.owner: models.RoleOwner, tm.admin: models.RoleAdmin, tm.mia: models.RoleMember,
		tm.max: models.RoleMember, tm.viewr: models.RoleViewer}[u]
	return models.Actor{UserID: u.ID, Role: role}
}

// keyIn runs fn in the team's workspace with the scope guard reporting against t.
func keyIn(t *testing.T, db bun.IDB, ws uuid.UUID, fn func(ctx context.Context, tn *models.Tenant) error) error {
	t.Helper()
	return models.InWorkspace(testdb.Ctx(t), db, ws, fn)
}

// keyCreate makes a key and returns it with its whole token.
func keyCreate(t *testing.T, db bun.IDB, ws uuid.UUID, actor models.Actor, scope string, days int, now time.Time) (*models.APIKey, string) {
	t.Helper()
	var k *models.APIKey
	var token string
	err := keyIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) (err error) {
		k, token, err = models.CreateKey(ctx, tn, actor, models.NewKey{Name: "ci " + scope, Scope: scope, ExpiresInDays: fmt.Sprint(days)}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return k, token
}

func TestKeyFormat(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	_, token := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 30, testdb.Now(t))
	if models.KeyLength != 51 || len(token) != models.KeyLength || !strings.HasPrefix(token, "atr_") || token[12] != '_' {
		t.Fatalf("key %q does not have the shape atr_ + 8 + _ + 32 + 6", token)
	}
	for _, r := range token[4:12] + token[13:] {
		if !strings.ContainsRune("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", r) {
			t.Fatalf("key %q has a non-base62 character %q", token, r)
		}
	}
	prefix, secret, ok := models.ParseKey(token)
	if !ok || prefix != token[:12] || secret != token[13:45] {
		t.Fatalf("ParseKey(%q) = %q, %q, %v", token, prefix, secret, ok)
	}
	if !models.LooksLikeKey("x=" + token + "&y") {
		t.Error("LooksLikeKey misses a key inside a string")
	}
	flip := func(s string, i int) string {
		c := byte('a')
		if s[i] == 'a' {
			c = 'b'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for name, bad := range map[string]string{
		"secret changed":   flip(token, 20),
		"checksum changed": flip(token, 48),
		"prefix changed":   flip(token, 6),
		"too short":        token[:50],
		"too long":         token + "0",
		"wrong head":       "atx" + token[3:],
		"empty":            "",
	} {
		if _, _, ok := models.ParseKey(bad); ok {
			t.Errorf("%s: ParseKey accepted %q", name, bad)
		}
	}
}

func TestCreateKeyStoresOnlyTheHash(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	now := testdb.Now(t).UTC()
	k, token := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.mia), "read_write", 90, now)
	_, secret, _ := models.ParseKey(token)
	var row struct {
		Hash   []byte    `bun:"secret_hash"`
		Prefix string    `bun:"prefix"`
		Scope  string    `bun:"scope"`
		Exp    time.Time `bun:"expires_at"`
		All    string    `bun:"all_text"`
	}
	err := d.Owner.NewRaw("SELECT secret_hash, prefix, scope, expires_at, row_to_json(k)::text AS all_text FROM api_keys k WHERE workspace_id = ? AND id = ?",
		tm.ws.ID, k.ID).Scan(context.Background(), &row)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(secret))
	if string(row.Hash) != string(want[:]) {
		t.Error("secret_hash is not the SHA-256 of the secret")
	}
	if strings.Contains(row.All, secret) || strings.Contains(row.All, token) {
		t.Error("the key's row contains the secret")
	}
	if row.Prefix != token[:12] || row.Scope != "read_write" {
		t.Errorf("stored prefix %q scope %q", row.Prefix, row.Scope)
	}
	if got := row.Exp.Sub(now); got < 89*24*time.Hour || got > 91*24*time.Hour {
		t.Errorf("expires in %s, want 90 days", got)
	}
	var audit string
	err = d.Owner.NewRaw("SELECT details::text FROM audit_events WHERE workspace_id = ? AND action = 'api_key.create' AND target = ?",
		tm.ws.ID, k.Prefix).Scan(context.Background(), &audit)
	if err != nil {
		t.Fatalf("no api_key.create event: %v", err)
	}
	if strings.Contains(audit, secret) {
		t.Error("the audit event contains the secret")
	}
}

func TestCreateKeyValidates(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	cases := []struct {
		name  string
		actor models.Actor
		in    models.NewKey
		field string // the field refused, or "" for ErrForbidden
	}{
		{"empty name", tm.actor(tm.mia), models.NewKey{Name: "  ", Scope: "read", ExpiresInDays: "30"}, "name"},
		{"long name", tm.actor(tm.mia), models.NewKey{Name: strings.Repeat("x", 81), Scope: "read", ExpiresInDays: "30"}, "name"},
		{"unknown scope", tm.actor(tm.mia), models.NewKey{Name: "n", Scope: "admin", ExpiresInDays: "30"}, "scope"},
		{"odd expiry", tm.actor(tm.mia), models.NewKey{Name: "n", Scope: "read", ExpiresInDays: "31"}, "expires_in_days"},
		{"viewer", tm.actor(tm.viewr), models.NewKey{Name: "n", Scope: "read", ExpiresInDays: "30"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
				_, _, err := models.CreateKey(ctx, tn, tc.actor, tc.in, testdb.Now(t))
				return err
			})
			var ve *models.ValidationError
			switch {
			case tc.field == "" && !errors.Is(err, models.ErrForbidden):
				t.Fatalf("got %v, want forbidden", err)
			case tc.field != "" && (!errors.As(err, &ve) || ve.Fields[tc.field] == ""):
				t.Fatalf("got %v, want a message for %s", err, tc.field)
			}
		})
	}
	var n int
	if err := d.Owner.NewRaw("SELECT count(*) FROM api_keys WHERE workspace_id = ?", tm.ws.ID).Scan(context.Background(), &n); err != nil || n != 0 {
		t.Fatalf("refused creations wrote %d keys (%v)", n, err)
	}
}

func TestAuthenticateKey(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	now := testdb.Now(t).UTC()
	ctx := testdb.Ctx(t)
	good := func(u *models.User) string {
		_, tok := keyCreate(t, d.App, tm.ws.ID, tm.actor(u), "read", 7, now)
		return tok
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.Owner.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
	valid := good(tm.mia)
	revoked := good(tm.mia)
	revokedKey, _, _ := models.ParseKey(revoked)
	exec("UPDATE api_keys SET revoked_at = ? WHERE prefix = ?", now, revokedKey)
	removedUser, demotedUser, disabledUser := newUser(t, d.App), newUser(t, d.App), newUser(t, d.App)
	for _, u := range []*models.User{removedUser, demotedUser, disabledUser} {
		exec("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)", tm.ws.ID, u.ID, testdb.Clock())
	}
	removed := func() string {
		_, tok := keyCreate(t, d.App, tm.ws.ID, models.Actor{UserID: removedUser.ID, Role: models.RoleMember}, "read", 7, now)
		return tok
	}()
	demoted := func() string {
		_, tok := keyCreate(t, d.App, tm.ws.ID, models.Actor{UserID: demotedUser.ID, Role: models.RoleMember}, "read", 7, now)
		return tok
	}()
	disabled := func() string {
		_, tok := keyCreate(t, d.App, tm.ws.ID, models.Actor{UserID: disabledUser.ID, Role: models.RoleMember}, "read", 7, now)
		return tok
	}()
	exec("DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?", tm.ws.ID, removedUser.ID)
	exec("UPDATE workspace_members SET role = 'viewer' WHERE workspace_id = ? AND user_id = ?", tm.ws.ID, demotedUser.ID)
	exec("UPDATE users SET disabled_at = ? WHERE id = ?", now, disabledUser.ID)
	pfx, _, _ := models.ParseKey(valid)
	otherSecret := pfx + "_" + strings.Repeat("A", 32)
	forged := otherSecret + checksumFor(t, otherSecret)
	unknownBody := "atr_ZZZZZZZZ_" + strings.Repeat("B", 32)
	unknown := unknownBody + checksumFor(t, unknownBody)

	cases := []struct {
		name  string
		token string
		at    time.Time
		ok    bool
	}{
		{"valid", valid, now, true},
		{"valid, just before expiry", valid, now.Add(7*24*time.Hour - time.Second), true},
		{"expired", valid, now.Add(7*24*time.Hour + time.Second), false},
		{"revoked", revoked, now, false},
		{"creator removed", removed, now, false},
		{"creator demoted to viewer", demoted, now, false},
		{"creator disabled", disabled, now, false},
		{"right prefix, wrong secret", forged, now, false},
		{"unknown prefix", unknown, now, false},
		{"malformed", "atr_nope", now, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := models.AuthenticateKey(ctx, d.App, tc.token, tc.at)
			if tc.ok {
				if err != nil || c.WorkspaceID != tm.ws.ID || c.Scope != models.ScopeRead || c.Tier != models.TierFree {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, models.ErrBadKey) {
				t.Fatalf("got %+v, %v; want ErrBadKey", c, err)
			}
		})
	}
}

// checksumFor computes the checksum of the key format (CRC-32 in base62, padded to 6) for
// any body, so tests can make well-formed keys that Atrium never issued.
func checksumFor(t *testing.T, body string) string {
	t.Helper()
	n := crc32.ChecksumIEEE([]byte(body))
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte("000000")
	for i := 5; i >= 0 && n > 0; i-- {
		b[i] = digits[n%62]
		n /= 62
	}
	if _, _, ok := models.ParseKey(body + string(b)); !ok {
		t.Fatalf("checksum of %q not accepted", body)
	}
	return string(b)
}

func TestRollKeyKeepsOldSecretForTheGrace(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	ctx := testdb.Ctx(t)
	now := testdb.Now(t).UTC().Truncate(time.Second)
	k, old := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.mia), "read", 30, now)
	rollAt := now.Add(time.Hour)
	var rolled *models.APIKey
	var fresh string
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		rolled, fresh, err = models.RollKey(ctx, tn, tm.actor(tm.mia), k.ID, 24*time.Hour, rollAt)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old || fresh[:12] != old[:12] {
		t.Fatalf("roll gave %q for %q: want a new secret under the same prefix", fresh, old)
	}
	if !rolled.ExpiresAt.Equal(*k.ExpiresAt) {
		t.Errorf("roll moved the expiry from %s to %s", k.ExpiresAt, rolled.ExpiresAt)
	}
	for _, tc := range []struct {
		name  string
		token string
		at    time.Time
		ok    bool
	}{
		{"new secret", fresh, rollAt, true},
		{"old secret within the grace", old, rollAt.Add(23 * time.Hour), true},
		{"old secret after the grace", old, rollAt.Add(24*time.Hour + time.Second), false},
		{"new secret after the grace", fresh, rollAt.Add(25 * time.Hour), true},
		{"new secret after the original expiry", fresh, now.Add(30*24*time.Hour + time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.AuthenticateKey(ctx, d.App, tc.token, tc.at)
			if (err == nil) != tc.ok {
				t.Fatalf("authenticate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	t.Run("roll without grace stops the old secret at once", func(t *testing.T) {
		var again string
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			_, again, err = models.RollKey(ctx, tn, tm.actor(tm.mia), k.ID, 0, rollAt.Add(time.Minute))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for tok, ok := range map[string]bool{old: false, fresh: false, again: true} {
			if _, err := models.AuthenticateKey(ctx, d.App, tok, rollAt.Add(2*time.Minute)); (err == nil) != ok {
				t.Errorf("%s…: %v, want ok=%v", tok[:14], err, ok)
			}
		}
	})
	t.Run("odd grace is refused", func(t *testing.T) {
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, _, err := models.RollKey(ctx, tn, tm.actor(tm.mia), k.ID, 5*time.Hour, rollAt)
			return err
		})
		var ve *models.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("got %v, want a validation error", err)
		}
	})
	t.Run("a revoked key cannot be rolled", func(t *testing.T) {
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			if _, err := models.RevokeKey(ctx, tn, tm.actor(tm.mia), k.ID, rollAt); err != nil {
				return err
			}
			_, _, err := models.RollKey(ctx, tn, tm.actor(tm.mia), k.ID, time.Hour, rollAt)
			return err
		})
		if !errors.Is(err, models.ErrConflict) {
			t.Fatalf("got %v, want conflict", err)
		}
	})
}

func TestMembersManageOnlyTheirOwnKeys(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	now := testdb.Now(t)
	miaKey, _ := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.mia), "read", 30, now)
	maxKey, _ := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.max), "read", 30, now)
	ownerKey, _ := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 30, now)

	list := func(u *models.User) (*models.KeyList, error) {
		var l *models.KeyList
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			l, err = models.ListKeys(ctx, tn, tm.actor(u), models.KeyFilter{}, now)
			return err
		})
		return l, err
	}
	t.Run("lists", func(t *testing.T) {
		for _, tc := range []struct {
			who  *models.User
			want []uuid.UUID
		}{
			{tm.mia, []uuid.UUID{miaKey.ID}},
			{tm.admin, []uuid.UUID{ownerKey.ID, maxKey.ID, miaKey.ID}},
			{tm.owner, []uuid.UUID{ownerKey.ID, maxKey.ID, miaKey.ID}},
		} {
			l, err := list(tc.who)
			if err != nil {
				t.Fatal(err)
			}
			var got []uuid.UUID
			for _, k := range l.Keys {
				got = append(got, k.ID)
				if k.CreatorName == "" {
					t.Error("creator name missing")
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s sees %v, want %v", tc.who.Email, got, tc.want)
			}
		}
		if _, err := list(tm.viewr); !errors.Is(err, models.ErrForbidden) {
			t.Errorf("viewer list: %v, want forbidden", err)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			who  *models.User
			key  uuid.UUID
			want error
		}{
			{"member, someone else's", tm.mia, maxKey.ID, models.ErrForbidden},
			{"viewer", tm.viewr, miaKey.ID, models.ErrForbidden},
			{"member, unknown", tm.mia, models.NewID(), models.ErrNotFound},
			{"member, own", tm.mia, miaKey.ID, nil},
			{"admin, a member's", tm.admin, maxKey.ID, nil},
			{"member, own again", tm.mia, miaKey.ID, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
					_, err := models.RevokeKey(ctx, tn, tm.actor(tc.who), tc.key, now)
					return err
				})
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
		var n int
		err := d.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'api_key.revoke'", tm.ws.ID).
			Scan(context.Background(), &n)
		if err != nil || n != 2 {
			t.Errorf("%d api_key.revoke events (%v), want 2: revoking twice records once", n, err)
		}
	})
	t.Run("another workspace's key is not found", func(t *testing.T) {
		other := newKeyTeam(t, d.App)
		err := keyIn(t, d.App, other.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.RevokeKey(ctx, tn, other.actor(other.owner), ownerKey.ID, now)
			return err
		})
		if !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("got %v, want not found", err)
		}
	})
}

func TestKeyListPages(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	now := testdb.Now(t)
	for i := 0; i < models.KeyPageSize+3; i++ {
		keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.mia), "read", 7, now)
	}
	list := func(f models.KeyFilter, at time.Time) *models.KeyList {
		t.Helper()
		var l *models.KeyList
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			l, err = models.ListKeys(ctx, tn, tm.actor(tm.mia), f, at)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	seen := map[uuid.UUID]bool{}
	for page := 1; page <= 3; page++ {
		l := list(models.KeyFilter{Page: page}, now)
		if l.Pages != 2 || l.Total != models.KeyPageSize+3 || l.Page != min(page, 2) {
			t.Fatalf("page %d: page %d of %d, %d keys", page, l.Page, l.Pages, l.Total)
		}
		for _, k := range l.Keys {
			if seen[k.ID] && page < 3 {
				t.Fatalf("key %s on two pages", k.ID)
			}
			seen[k.ID] = true
		}
	}
	if len(seen) != models.KeyPageSize+3 {
		t.Fatalf("%d keys seen", len(seen))
	}
	// A week later they are all expired: the active list is empty and the expired one holds them.
	later := now.Add(8 * 24 * time.Hour)
	if l := list(models.KeyFilter{}, later); l.Total != 0 || len(l.Keys) != 0 || l.Counts[models.KeyExpired] != models.KeyPageSize+3 {
		t.Fatalf("a week later: %d active, counts %v", l.Total, l.Counts)
	}
	if l := list(models.KeyFilter{Status: models.KeyExpired}, later); len(l.Keys) != models.KeyPageSize {
		t.Fatalf("expired list: %d keys", len(l.Keys))
	}
}

func TestKeyListSearchAndStatus(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	now := testdb.Now(t)
	deploy, _ := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 30, now)
	other, _ := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 0, now)
	gone, _ := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 0, now)
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.RevokeKey(ctx, tn, tm.actor(tm.owner), gone.ID, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	list := func(f models.KeyFilter) *models.KeyList {
		t.Helper()
		var l *models.KeyList
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			l, err = models.ListKeys(ctx, tn, tm.actor(tm.admin), f, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := list(models.KeyFilter{})
	if len(l.Keys) != 2 || l.Counts[models.KeyActive] != 2 || l.Counts[models.KeyRevoked] != 1 || l.Counts[models.KeyExpired] != 0 {
		t.Fatalf("active by default: %d keys, counts %v", len(l.Keys), l.Counts)
	}
	if l := list(models.KeyFilter{Status: models.KeyRevoked}); len(l.Keys) != 1 || l.Keys[0].ID != gone.ID {
		t.Fatalf("revoked: %v", l.Keys)
	}
	// By prefix, in any case, and the counts follow the search.
	l = list(models.KeyFilter{Query: strings.ToLower(other.Prefix[4:])})
	if len(l.Keys) != 1 || l.Keys[0].ID != other.ID || l.Counts[models.KeyRevoked] != 0 {
		t.Fatalf("search by prefix: %d keys, counts %v", len(l.Keys), l.Counts)
	}
	if l := list(models.KeyFilter{Query: deploy.Prefix}); len(l.Keys) != 1 || l.Keys[0].ID != deploy.ID {
		t.Fatalf("search by whole prefix: %d keys", len(l.Keys))
	}
	// LIKE's wildcards are searched for, not obeyed.
	if l := list(models.KeyFilter{Query: "%"}); len(l.Keys) != 0 {
		t.Fatalf("%% matched %d keys", len(l.Keys))
	}
}
