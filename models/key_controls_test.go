package models_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// controlledKey makes a key with controls in the team's workspace and authenticates it.
func controlledKey(t *testing.T, db bun.IDB, tm *keyTeam, name string, c models.KeyControls, now time.Time) (*models.APIKey, *models.APICaller) {
	t.Helper()
	var k *models.APIKey
	var token string
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		k, token, err = models.CreateKey(ctx, tn, tm.actor(tm.owner), models.NewKey{Name: name, Scope: "read_write", ExpiresInDays: "0", KeyControls: c}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	caller, err := models.AuthenticateKey(testdb.Ctx(t), db, token, now)
	if err != nil {
		t.Fatal(err)
	}
	return k, caller
}

// setTier moves the team's workspace to tier.
func setTier(t *testing.T, db bun.IDB, tm *keyTeam, tier models.Tier) {
	t.Helper()
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewUpdate().Model(tm.ws).Set("tier = ?", tier).WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keyHour reads a key's counters of an hour as the owner sees them.
func keyHour(t *testing.T, owner *bun.DB, key uuid.UUID, hour time.Time) (calls, ip, keyLimited, wsLimited int64) {
	t.Helper()
	err := owner.NewRaw(`SELECT coalesce(sum(calls), 0), coalesce(sum(ip_refused), 0), coalesce(sum(key_limited), 0), coalesce(sum(workspace_limited), 0)
		FROM api_key_usage_hourly WHERE key_id = ? AND hour = ?`, key, hour.UTC().Truncate(time.Hour)).
		Scan(context.Background(), &calls, &ip, &keyLimited, &wsLimited)
	if err != nil {
		t.Fatal(err)
	}
	return
}

// twoMeters are two processes' meters over two pools of the same database.
func twoMeters(t *testing.T, d *testdb.DB) []*models.Meter {
	t.Helper()
	second, err := d.OpenApp(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	return []*models.Meter{models.NewMeter(d.App), models.NewMeter(second)}
}

// TestKeyLimitIsExactAcrossProcesses: a key limited to 100 calls an hour in a workspace allowed
// 1,000, called 300 times at once through two processes, gets exactly 100 through and 200
// key_rate_limited; the key's and the workspace's counts say 100, the refusals are counted on
// the key and audited once.
func TestKeyLimitIsExactAcrossProcesses(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	setTier(t, d.App, tm, models.TierStarter)
	k, c := controlledKey(t, d.App, tm, "sliced", models.KeyControls{RateLimitPerHour: "100"}, now)
	if c.KeyLimit != 100 || c.WorkspaceSlug != tm.ws.Slug || c.KeyName != "sliced" {
		t.Fatalf("caller: limit %d, slug %q, name %q", c.KeyLimit, c.WorkspaceSlug, c.KeyName)
	}
	meters := twoMeters(t, d)
	var mu sync.Mutex
	allowed, refused := 0, 0
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := meters[i%2].Admit(testdb.Ctx(t), c, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				allowed++
				if l, _ := w.Limit.Value(); l != 100 {
					t.Errorf("an admitted call's window says limit %d, want the key's 100", l)
				}
			case quotaCode(err) == models.CodeKeyRateLimited:
				refused++
				if rem, _ := w.Remaining(); rem != 0 {
					t.Errorf("a refusal says %d remaining", rem)
				}
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if allowed != 100 || refused != 200 {
		t.Fatalf("allowed %d, refused %d; want exactly 100 and 200", allowed, refused)
	}
	for _, m := range meters {
		if err := m.Close(testdb.Ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	calls, ip, keyLimited, wsLimited := keyHour(t, d.Owner, k.ID, now)
	if calls != 100 || ip != 0 || keyLimited != 200 || wsLimited != 0 {
		t.Fatalf("key counters: calls %d, ip %d, key limited %d, workspace limited %d; want 100, 0, 200, 0", calls, ip, keyLimited, wsLimited)
	}
	if ws, _ := usageRow(t, d.Owner, tm.ws.ID, now); ws != 100 {
		t.Fatalf("usage_hourly.api_calls = %d, want 100 (refused calls take nothing)", ws)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "api.key_rate_limited"); n != 1 {
		t.Errorf("%d key rate-limit audit events, want 1 per key and hour", n)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "api.rate_limited"); n != 0 {
		t.Errorf("%d workspace rate-limit audit events, want 0", n)
	}
	// Another key of the workspace is not held by this key's slice.
	_, other := controlledKey(t, d.App, tm, "free", models.KeyControls{}, now)
	if _, err := meters[0].Admit(testdb.Ctx(t), other, now); err != nil {
		t.Fatalf("another key: %v", err)
	}
	// The next hour the key starts again; its refusals are audited again then.
	if _, err := meters[1].Admit(testdb.Ctx(t), c, now.Add(time.Hour)); err != nil {
		t.Fatalf("next hour: %v", err)
	}
}

// TestKeySlicesNeverLetTheWorkspaceExceedItsLimit: two keys of 80 calls an hour each in a
// workspace allowed 100 (Free), called at once through two processes: the workspace admits
// exactly 100 in all, no key more than its 80, and every other call is refused by one of the two.
func TestKeySlicesNeverLetTheWorkspaceExceedItsLimit(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	ka, a := controlledKey(t, d.App, tm, "a", models.KeyControls{RateLimitPerHour: "80"}, now)
	kb, b := controlledKey(t, d.App, tm, "b", models.KeyControls{RateLimitPerHour: "80"}, now)
	meters := twoMeters(t, d)
	var mu sync.Mutex
	got := map[string]int{}
	byKey := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*models.APICaller{a, b}[i%2]
			_, err := meters[(i/2)%2].Admit(testdb.Ctx(t), c, now)
			mu.Lock()
			defer mu.Unlock()
			switch code := quotaCode(err); {
			case err == nil:
				got["ok"]++
				byKey[c.KeyID]++
			case code == models.CodeRateLimited || code == models.CodeKeyRateLimited:
				got[code]++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got["ok"] != 100 || byKey[a.KeyID] > 80 || byKey[b.KeyID] > 80 {
		t.Fatalf("admitted %d (a %d, b %d); want exactly 100 in all and at most 80 a key; refusals %v", got["ok"], byKey[a.KeyID], byKey[b.KeyID], got)
	}
	for _, m := range meters {
		if err := m.Close(testdb.Ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if ws, _ := usageRow(t, d.Owner, tm.ws.ID, now); ws != 100 {
		t.Fatalf("usage_hourly.api_calls = %d, want 100", ws)
	}
	ca, _, kla, wla := keyHour(t, d.Owner, ka.ID, now)
	cb, _, klb, wlb := keyHour(t, d.Owner, kb.ID, now)
	if ca != int64(byKey[a.KeyID]) || cb != int64(byKey[b.KeyID]) {
		t.Fatalf("key counters say %d and %d calls, the meters admitted %d and %d", ca, cb, byKey[a.KeyID], byKey[b.KeyID])
	}
	if kla+klb != int64(got[models.CodeKeyRateLimited]) || wla+wlb != int64(got[models.CodeRateLimited]) {
		t.Fatalf("refusals counted: key %d, workspace %d; the meters refused %v", kla+klb, wla+wlb, got)
	}
	t.Logf("a %d, b %d; refusals %v", byKey[a.KeyID], byKey[b.KeyID], got)

	// One key floods first and gets exactly its 80; a key without a limit of its own then gets
	// exactly the workspace's 20 left.
	tm2 := newKeyTeam(t, d.App)
	_, sliced := controlledKey(t, d.App, tm2, "sliced", models.KeyControls{RateLimitPerHour: "80"}, now)
	_, whole := controlledKey(t, d.App, tm2, "whole", models.KeyControls{}, now)
	flood := func(c *models.APICaller) (ok int, codes map[string]int) {
		codes = map[string]int{}
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := meters[i%2].Admit(testdb.Ctx(t), c, now)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else {
					codes[quotaCode(err)]++
				}
			}()
		}
		wg.Wait()
		return ok, codes
	}
	if ok, codes := flood(sliced); ok != 80 || codes[models.CodeKeyRateLimited] != 120 {
		t.Fatalf("the 80-call key alone: %d admitted, refusals %v; want 80 and 120 key_rate_limited", ok, codes)
	}
	if ok, codes := flood(whole); ok != 20 || codes[models.CodeRateLimited] != 180 {
		t.Fatalf("then a key without a limit: %d admitted, refusals %v; want the workspace's last 20 and 180 rate_limited", ok, codes)
	}
}

// TestKeyAllowlist: a key fenced to an IPv4 range, an IPv6 range and one address answers calls
// from inside them (an IPv4 address written as IPv6 too) and refuses the rest with
// ip_not_allowed, counted on the key and audited once per key and hour; a key without a list
// takes any address.
func TestKeyAllowlist(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	setTier(t, d.App, tm, models.TierStarter)
	k, c := controlledKey(t, d.App, tm, "fenced", models.KeyControls{AllowedIPs: "203.0.113.0/24, 2001:db8::/32\n198.51.100.7"}, now)
	if len(c.AllowedIPs) != 3 {
		t.Fatalf("caller allowlist %v", c.AllowedIPs)
	}
	_, open := controlledKey(t, d.App, tm, "open", models.KeyControls{}, now)
	m := models.NewMeter(d.App)
	cases := []struct {
		ip    string
		allow bool
	}{
		{"203.0.113.9", true}, {"203.0.114.1", false}, {"2001:db8::1", true}, {"2001:db8:ffff::1", true},
		{"2001:db9::1", false}, {"::ffff:198.51.100.7", true}, {"198.51.100.7", true}, {"198.51.100.8", false},
		{"::1", false}, {"", false},
	}
	refused := int64(0)
	for _, tc := range cases {
		ctx := models.WithClientIP(testdb.Ctx(t), tc.ip)
		_, err := m.Admit(ctx, c, now)
		switch {
		case tc.allow && err != nil:
			t.Errorf("%q: refused: %v", tc.ip, err)
		case !tc.allow && quotaCode(err) != models.CodeIPNotAllowed:
			t.Errorf("%q: %v, want ip_not_allowed", tc.ip, err)
		case !tc.allow:
			refused++
			if tc.ip != "" && !strings.Contains(err.Error(), tc.ip) {
				t.Errorf("%q: the message does not name the address: %s", tc.ip, err)
			}
		}
		if _, err := m.Admit(ctx, open, now); err != nil {
			t.Errorf("%q: a key without a list is refused: %v", tc.ip, err)
		}
	}
	if err := m.Close(testdb.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	calls, ip, _, _ := keyHour(t, d.Owner, k.ID, now)
	if ip != refused || calls != int64(len(cases))-refused {
		t.Fatalf("key counters: %d calls, %d refused; want %d and %d", calls, ip, int64(len(cases))-refused, refused)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "api.ip_not_allowed"); n != 1 {
		t.Fatalf("%d ip_not_allowed audit events, want 1 per key and hour", n)
	}
	// Another process refusing the same key in the same hour adds no audit line (the index), a
	// second fenced key gets its own.
	_, c2 := controlledKey(t, d.App, tm, "fenced too", models.KeyControls{AllowedIPs: "10.0.0.0/8"}, now)
	m2 := models.NewMeter(d.App)
	ctx := models.WithClientIP(testdb.Ctx(t), "192.0.2.1")
	for _, caller := range []*models.APICaller{c, c2, c2} {
		if _, err := m2.Admit(ctx, caller, now); quotaCode(err) != models.CodeIPNotAllowed {
			t.Fatalf("192.0.2.1: %v", err)
		}
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "api.ip_not_allowed"); n != 2 {
		t.Fatalf("%d ip_not_allowed audit events, want 2 (one per key)", n)
	}
	// Many processes refusing a fresh key at the same moment audit it once, and the workspace's
	// audit chain holds (no insert was tried twice).
	_, c3 := controlledKey(t, d.App, tm, "raced", models.KeyControls{AllowedIPs: "10.0.0.0/8"}, now)
	var wg sync.WaitGroup
	for range 8 {
		m := models.NewMeter(d.App)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Admit(ctx, c3, now); quotaCode(err) != models.CodeIPNotAllowed {
					t.Errorf("raced refusal: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	if n := auditCount(t, d.Owner, tm.ws.ID, "api.ip_not_allowed"); n != 3 {
		t.Fatalf("%d ip_not_allowed audit events, want 3 (one per key)", n)
	}
	if r := verifyChain(t, d.App, tm.ws.ID); !r.OK() {
		t.Fatalf("the audit chain broke: %+v", r.Broken)
	}
	// The last use's address is the allowed one, written with last_used_at.
	var last string
	if err := d.Owner.NewRaw("SELECT last_used_ip FROM api_keys WHERE id = ?", k.ID).Scan(context.Background(), &last); err != nil {
		t.Fatal(err)
	}
	if last != "203.0.113.9" {
		t.Errorf("last_used_ip %q, want the first allowed call's 203.0.113.9", last)
	}
}

func TestParseAllowedIPs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  string
	}{
		{"", "", ""},
		{"203.0.113.7", "203.0.113.7/32", ""},
		{" 203.0.113.0/24 ,\n2001:DB8::/32\r\n", "203.0.113.0/24 2001:db8::/32", ""},
		{"::ffff:198.51.100.7", "198.51.100.7/32", ""},
		{"::ffff:198.51.100.0/120", "198.51.100.0/24", ""},
		{"10.0.0.1, 10.0.0.1", "10.0.0.1/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"10.0.0.5/8", "", "did you mean 10.0.0.0/8"},
		{"10.0.0.0/33", "", "is not a CIDR range"},
		{"example.com", "", "is not an IP address"},
		{"fe80::1%eth0", "", "is not an IP address"},
		{"300.1.1.1", "", "is not an IP address"},
	} {
		got, msg := models.ParseAllowedIPs(tc.in)
		if tc.err != "" {
			if !strings.Contains(msg, tc.err) {
				t.Errorf("%q: message %q, want it to say %q", tc.in, msg, tc.err)
			}
			continue
		}
		if msg != "" || strings.Join(got, " ") != tc.want {
			t.Errorf("%q: %v %q, want %q", tc.in, got, msg, tc.want)
		}
	}
	var long []string
	for i := range models.MaxAllowedIPs + 1 {
		long = append(long, "10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250))
	}
	if _, msg := models.ParseAllowedIPs(strings.Join(long, "\n")); !strings.Contains(msg, "at most") {
		t.Errorf("%d entries: %q", len(long), msg)
	}
}

// TestKeyControlsValidateAndStayInTheirWorkspace: a limit past the workspace's or malformed, an
// allowlist entry that is not an address, are refused with messages by field; an edit changes
// what the next lookup answers; another workspace's key is not found for an edit or its usage.
func TestKeyControlsValidateAndStayInTheirWorkspace(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	for _, tc := range []struct {
		c     models.KeyControls
		field string
		says  string
	}{
		{models.KeyControls{RateLimitPerHour: "101"}, "rate_limit_per_hour", "at most 100"},
		{models.KeyControls{RateLimitPerHour: "0"}, "rate_limit_per_hour", "at least 1"},
		{models.KeyControls{RateLimitPerHour: "ten"}, "rate_limit_per_hour", "whole number"},
		{models.KeyControls{AllowedIPs: "10.0.0.1, nope"}, "allowed_ips", `"nope"`},
		{models.KeyControls{Description: strings.Repeat("x", 501)}, "description", "500"},
	} {
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, _, err := models.CreateKey(ctx, tn, tm.actor(tm.owner), models.NewKey{Name: "bad", Scope: "read", ExpiresInDays: "0", KeyControls: tc.c}, now)
			return err
		})
		var ve *models.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Fields[tc.field], tc.says) {
			t.Errorf("%+v: %v, want %s to say %q", tc.c, err, tc.field, tc.says)
		}
	}
	k, _ := controlledKey(t, d.App, tm, "edited", models.KeyControls{Description: "ci"}, now)
	var updated *models.APIKey
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		updated, err = models.UpdateKeyControls(ctx, tn, tm.actor(tm.admin), k.ID,
			models.KeyControls{Description: "deploys", RateLimitPerHour: "50", AllowedIPs: "192.0.2.0/24"}, testdb.Clock())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Description != "deploys" || updated.RateLimitPerHour == nil || *updated.RateLimitPerHour != 50 || strings.Join(updated.AllowedIPs, ",") != "192.0.2.0/24" {
		t.Fatalf("updated: %+v", updated)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "api_key.update"); n != 1 {
		t.Fatalf("%d api_key.update events", n)
	}
	// A member may not edit someone else's key.
	err = keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.UpdateKeyControls(ctx, tn, tm.actor(tm.mia), k.ID, models.KeyControls{}, testdb.Clock())
		return err
	})
	if !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("a member edits the owner's key: %v", err)
	}
	// Another workspace neither edits nor reads it.
	other := newKeyTeam(t, d.App)
	err = keyIn(t, d.App, other.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := models.UpdateKeyControls(ctx, tn, other.actor(other.owner), k.ID, models.KeyControls{}, testdb.Clock()); !errors.Is(err, models.ErrNotFound) {
			return errors.New("edit across workspaces: " + errString(err))
		}
		if _, err := models.ReadKeyUsage(ctx, tn, other.actor(other.owner), k.ID, now); !errors.Is(err, models.ErrNotFound) {
			return errors.New("usage across workspaces: " + errString(err))
		}
		var n int
		if err := tn.Tx().NewRaw("SELECT count(*) FROM api_key_usage_hourly").Scan(ctx, &n); err != nil || n != 0 {
			return errors.New("another workspace's key usage rows are visible")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestKeyUsageAndList: a key's usage page reads its hours with their calls and refusals; the list
// shows each key's calls of the last 24 hours.
func TestKeyUsageAndList(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	setTier(t, d.App, tm, models.TierStarter)
	k, c := controlledKey(t, d.App, tm, "busy", models.KeyControls{RateLimitPerHour: "3", AllowedIPs: "192.0.2.1"}, now)
	m := models.NewMeter(d.App)
	ok := models.WithClientIP(testdb.Ctx(t), "192.0.2.1")
	for _, at := range []time.Time{now.Add(-30 * time.Hour), now.Add(-2 * time.Hour), now.Add(-2 * time.Hour), now, now, now, now} {
		if _, err := m.Admit(ok, c, at); err != nil && quotaCode(err) != models.CodeKeyRateLimited {
			t.Fatal(err)
		}
	}
	if _, err := m.Admit(models.WithClientIP(testdb.Ctx(t), "192.0.2.2"), c, now); quotaCode(err) != models.CodeIPNotAllowed {
		t.Fatal(err)
	}
	if err := m.Close(testdb.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	var u *models.KeyUsage
	var list *models.KeyList
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		if u, err = models.ReadKeyUsage(ctx, tn, tm.actor(tm.owner), k.ID, now); err != nil {
			return err
		}
		list, err = models.ListKeys(ctx, tn, tm.actor(tm.owner), models.KeyFilter{}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Hours) != models.KeyUsageHours || u.Calls != 6 || u.KeyLimited != 1 || u.IPRefused != 1 {
		t.Fatalf("usage: %d hours, %d calls, %d key-limited, %d ip-refused; want %d, 6, 1, 1", len(u.Hours), u.Calls, u.KeyLimited, u.IPRefused, models.KeyUsageHours)
	}
	last := u.Hours[len(u.Hours)-1]
	if !last.Hour.Equal(now.Truncate(time.Hour)) || last.Calls != 3 || last.KeyLimited != 1 || last.IPRefused != 1 {
		t.Fatalf("this hour: %+v", last)
	}
	if len(list.Keys) != 1 || list.Keys[0].Calls24h != 5 {
		t.Fatalf("list: %d keys, calls in 24 h %d; want 1 and 5 (the call 30 hours ago is out)", len(list.Keys), list.Keys[0].Calls24h)
	}
}
