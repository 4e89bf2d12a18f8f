package models_test

import (
	"encoding/json"
	"testing"

	"atrium/models"
)

func TestTierLimits(t *testing.T) {
	cases := []struct {
		tier                              models.Tier
		minutes, calls, concurrent, seats int64
	}{
		{models.TierFree, 1_000, 100, 1, 1},
		{models.TierStarter, 10_000, 1_000, 5, 3},
		{models.TierPro, 100_000, 10_000, 20, 10},
	}
	for _, c := range cases {
		t.Run(string(c.tier), func(t *testing.T) {
			l := c.tier.Limits()
			for name, pair := range map[string][2]any{
				"minutes": {l.AgentMinutesPerMonth, c.minutes}, "calls": {l.APICallsPerHour, c.calls},
				"concurrent": {l.ConcurrentTasks, c.concurrent}, "members": {l.Members, c.seats},
			} {
				lim := pair[0].(models.Limit)
				n, ok := lim.Value()
				if !ok || n != pair[1].(int64) {
					t.Errorf("%s = %d (limited %v), want %d", name, n, ok, pair[1])
				}
				if !lim.Allows(n-1, 1) || lim.Allows(n, 1) {
					t.Errorf("%s: Allows is off at the edge", name)
				}
			}
		})
	}
	ent := models.TierEnterprise.Limits()
	for _, l := range []models.Limit{ent.AgentMinutesPerMonth, ent.APICallsPerHour, ent.ConcurrentTasks, ent.Members} {
		if !l.IsUnlimited() || !l.Allows(1<<62, 1<<62) || l.String() != "unlimited" {
			t.Fatalf("enterprise limit %v is not unlimited", l)
		}
		b, _ := json.Marshal(l)
		if string(b) != "null" {
			t.Fatalf("unlimited marshals as %s", b)
		}
	}
	if b, _ := json.Marshal(models.Max(100)); string(b) != "100" {
		t.Fatalf("limit marshals as %s", b)
	}
	if _, ok := models.ParseTier("PRO"); !ok {
		t.Fatal("PRO not parsed")
	}
	if _, ok := models.ParseTier("platinum"); ok {
		t.Fatal("unknown tier parsed")
	}
	if models.FormatCount(1234567) != "1,234,567" || models.FormatCount(999) != "999" {
		t.Fatal("FormatCount")
	}
}

func TestPasswords(t *testing.T) {
	h, err := models.HashPassword("a long enough secret")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := models.VerifyPassword(h, "a long enough secret"); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := models.VerifyPassword(h, "a long enough secreT"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := models.HashPassword("a long enough secret")
	if h == h2 {
		t.Fatal("no salt")
	}
	for pw, bad := range map[string]bool{"short": true, "password1234": true, "QWERTYUIOP123": true,
		"correct horse battery": false, string(make([]byte, 257)): true} {
		if got := models.CheckPassword(pw) != ""; got != bad {
			t.Errorf("CheckPassword(%.20q) refused=%v, want %v", pw, got, bad)
		}
	}
}
