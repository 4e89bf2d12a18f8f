package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// tierOf reads a workspace's tier as the owner sees it.
func tierOf(t *testing.T, ws uuid.UUID) models.Tier {
	t.Helper()
	var tier models.Tier
	if err := testdb.Get(t).Owner.NewRaw("SELECT tier FROM workspaces WHERE id = ?", ws).Scan(context.Background(), &tier); err != nil {
		t.Fatal(err)
	}
	return tier
}

func changeTier(t *testing.T, db bun.IDB, ws uuid.UUID, actor models.Actor, to models.Tier, now time.Time) (models.Tier, error) {
	t.Helper()
	var from models.Tier
	err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) (err error) {
		from, err = models.ChangeTier(ctx, tn, actor, to, now)
		return err
	})
	return from, err
}

func TestChangeTierUpgradeTakesEffectAtOnceAndIsAudited(t *testing.T) {
	db := testdb.Get(t).App
	tm := newKeyTeam(t, db)
	now := testdb.Now(t)
	from, err := changeTier(t, db, tm.ws.ID, tm.actor(tm.owner), models.TierPro, now)
	if err != nil || from != models.TierFree {
		t.Fatalf("upgrade: from %q, %v", from, err)
	}
	if got := tierOf(t, tm.ws.ID); got != models.TierPro {
		t.Fatalf("tier is %s, want pro", got)
	}
	if n := auditCount(t, testdb.Get(t).Owner, tm.ws.ID, "workspace.tier_change"); n != 1 {
		t.Fatalf("%d tier_change events, want 1", n)
	}
	// The same tier again changes and records nothing.
	if _, err := changeTier(t, db, tm.ws.ID, tm.actor(tm.owner), models.TierPro, now); err != nil {
		t.Fatal(err)
	}
	if n := auditCount(t, testdb.Get(t).Owner, tm.ws.ID, "workspace.tier_change"); n != 1 {
		t.Fatalf("%d tier_change events after a no-op, want 1", n)
	}
}

func TestChangeTierIsForOwnersOnly(t *testing.T) {
	db := testdb.Get(t).App
	tm := newKeyTeam(t, db)
	now := testdb.Now(t)
	for _, u := range []*models.User{tm.admin, tm.mia, tm.viewr} {
		if _, err := changeTier(t, db, tm.ws.ID, tm.actor(u), models.TierPro, now); !errors.Is(err, models.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", tm.actor(u).Role, err)
		}
	}
	// A role that changed since the request was authorised is not trusted.
	stale := models.Actor{UserID: tm.admin.ID, Role: models.RoleOwner}
	if _, err := changeTier(t, db, tm.ws.ID, stale, models.TierPro, now); !errors.Is(err, models.ErrConflict) {
		t.Errorf("stale owner role: %v, want ErrConflict", err)
	}
	var ve *models.ValidationError
	if _, err := changeTier(t, db, tm.ws.ID, tm.actor(tm.owner), "platinum", now); !errors.As(err, &ve) || ve.Fields["tier"] == "" {
		t.Errorf("unknown tier: %v", err)
	}
	if got := tierOf(t, tm.ws.ID); got != models.TierFree {
		t.Fatalf("tier is %s, want free", got)
	}
}

// TestDowngradeRefusedWhileUseExceedsIt: a pro workspace using more than free and starter allow
// cannot move down; the refusal names every limit that is over and what to reduce, and nothing
// changes. Once use fits (exactly at a limit is fine), the downgrade goes through.
func TestDowngradeRefusedWhileUseExceedsIt(t *testing.T) {
	db := testdb.Get(t).App
	tm := newKeyTeam(t, db) // 5 members
	now := testdb.Now(t).Truncate(time.Hour).Add(20 * time.Minute)
	monthEnd, hourEnd := models.MonthStart(now).AddDate(0, 1, 0), now.Truncate(time.Hour).Add(time.Hour)
	if _, err := changeTier(t, db, tm.ws.ID, tm.actor(tm.owner), models.TierPro, now); err != nil {
		t.Fatal(err)
	}
	var running []uuid.UUID
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := tn.Tx().NewDelete().Model((*models.Member)(nil)).Where("user_id IN (?)", bun.List([]uuid.UUID{tm.max.ID, tm.viewr.ID})).Exec(ctx); err != nil {
			return err
		}
		inv := &models.Invitation{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: "pending@example.com", Role: models.RoleMember,
			TokenHash: uuid.NewString(), ExpiresAt: now.Add(24 * time.Hour)}
		if _, err := tn.Tx().NewInsert().Model(inv).Exec(ctx); err != nil {
			return err
		}
		agent := &models.Agent{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "a", Status: "active"}
		if _, err := tn.Tx().NewInsert().Model(agent).Exec(ctx); err != nil {
			return err
		}
		for range 2 {
			tk := &models.Task{CreatedAt: testdb.Clock(), ID: models.NewID(), AgentID: agent.ID, Status: models.TaskRunning, StartedAt: &now}
			if _, err := tn.Tx().NewInsert().Model(tk).Exec(ctx); err != nil {
				return err
			}
			running = append(running, tk.ID)
		}
		// Last month's minutes do not count; this month's and this hour's calls do.
		for _, u := range []*models.UsageHour{
			{Hour: models.MonthStart(now).Add(-time.Hour), AgentMinutes: 50_000},
			{Hour: now.Truncate(time.Hour), AgentMinutes: 1_500, APICalls: 150},
		} {
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// 3 members + 1 pending invitation = 4 seats, 2 running tasks, 1,500 minutes, 150 calls.
	tests := []struct {
		to   models.Tier
		want []string // one refusal line per limit, each with these words
	}{
		{models.TierFree, []string{"Members: 4 seats", "Remove 3 members", "Running tasks: 2", "Let 1 task finish",
			"Agent-minutes: 1,500 used", monthEnd.Format("January 2, 15:04 UTC"), "API calls: 150 this hour",
			"after " + hourEnd.Format("15:04 UTC")}},
		{models.TierStarter, []string{"Members: 4 seats are taken (members and pending invitations) and Starter allows 3. Remove 1 member or revoke pending invitations."}},
	}
	for _, tt := range tests {
		t.Run(string(tt.to), func(t *testing.T) {
			_, err := changeTier(t, db, tm.ws.ID, tm.actor(tm.owner), tt.to, now)
			var refused *models.TierChangeRefused
			if !errors.As(err, &refused) || !errors.Is(err, models.ErrLimitReached) {
				t.Fatalf("downgrade to %s: %v, want a refusal", tt.to, err)
			}
			all := strings.Join(refused.Reduce, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("refusal lacks %q:\n%s", w, all)
				}
			}
			if tt.to == models.TierStarter && len(refused.Reduce) != 1 {
				t.Errorf("starter fits all but the seats, got %d lines:\n%s", len(refused.Reduce), all)
			}
			if got := tierOf(t, tm.ws.ID); got != models.TierPro {
				t.Fatalf("tier is %s after a refusal", got)
			}
		})
	}
	if n := auditCount(t, testdb.Get(t).Owner, tm.ws.ID, "workspace.tier_change"); n != 1 {
		t.Fatalf("%d tier_change events, want only the upgrade's", n)
	}

	// Revoke the invitation: 3 seats, exactly starter's limit.
	err = keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewUpdate().Model((*models.Invitation)(nil)).Set("revoked_at = ?", now).Where("revoked_at IS NULL").Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if from, err := changeTier(t, db, tm.ws.ID, tm.actor(tm.owner), models.TierStarter, now); err != nil || from != models.TierPro {
		t.Fatalf("downgrade to starter at the seat limit: from %s, %v", from, err)
	}
	if got := tierOf(t, tm.ws.ID); got != models.TierStarter {
		t.Fatalf("tier is %s, want starter", got)
	}
}

func TestDowngradeBlockersAllowsEnterpriseUse(t *testing.T) {
	u := &models.Snapshot{Members: 1_000, RunningTasks: 500, AgentMinutesMonth: 1 << 40, APICallsHour: 1 << 30,
		PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	if got := models.DowngradeBlockers(u, models.TierEnterprise); len(got) != 0 {
		t.Fatalf("enterprise has no limits, got %v", got)
	}
	if got := models.DowngradeBlockers(u, models.TierPro); len(got) != 4 {
		t.Fatalf("pro: %d blockers, want 4: %v", len(got), got)
	}
}
