// Package seed fills a database with demo data: the demo workspace that `atrium serve` makes on
// first start with the embedded cluster, and `atrium seed` makes on any database.
package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/uptrace/bun"

	"atrium/models"
)

// The demo workspace's owner account and address; the password is printed by `atrium serve` on
// first start.
const (
	DemoOwnerEmail = "owner@demo.atrium.test"
	DemoPassword   = "atrium-demo-password"
	DemoSlug       = "demo"
)

// Demo makes the demo workspace once: owner, admin, member and viewer, a few agents and tasks
// and 60 days of hourly usage. It reports whether it created anything.
func Demo(ctx context.Context, db *bun.DB, now time.Time) (bool, error) {
	if _, err := models.UserByEmail(ctx, db, DemoOwnerEmail); err == nil {
		return false, nil
	}
	people := []struct {
		email, name string
		role        models.Role
	}{
		{DemoOwnerEmail, "Olivia Owner", models.RoleOwner},
		{"admin@demo.atrium.test", "Adam Admin", models.RoleAdmin},
		{"member@demo.atrium.test", "Mia Member", models.RoleMember},
		{"viewer@demo.atrium.test", "Victor Viewer", models.RoleViewer},
	}
	var users []*models.User
	for _, p := range people {
		u, err := models.CreateUser(ctx, db, models.NewUser{Email: p.email, Name: p.name, Password: DemoPassword, VerifiedAt: now}, now)
		if err != nil {
			return false, fmt.Errorf("seed user %s: %w", p.email, err)
		}
		users = append(users, u)
	}
	ws, err := models.CreateWorkspace(ctx, db, users[0], "Demo Robotics", DemoSlug, now)
	if err != nil {
		return false, fmt.Errorf("seed workspace: %w", err)
	}
	err = models.InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		tx := tn.Tx()
		if _, err := tx.NewUpdate().Model(ws).Set("tier = ?", models.TierPro).WherePK().Exec(ctx); err != nil {
			return err
		}
		for i, p := range people[1:] {
			if _, err := tx.NewInsert().Model(&models.Member{UserID: users[i+1].ID, Role: p.role, CreatedAt: now}).Exec(ctx); err != nil {
				return err
			}
		}
		return activity(ctx, tx, now, 60, rand.New(rand.NewPCG(1, 2)))
	})
	return err == nil, err
}

// activity adds agents, tasks and days of hourly usage to the context's workspace.
func activity(ctx context.Context, tx bun.Tx, now time.Time, days int, rng *rand.Rand) error {
	names := []string{"Support triage", "Invoice reader", "Release notes writer"}
	var agents []models.Agent
	for _, n := range names {
		agents = append(agents, models.Agent{ID: models.NewID(), Name: n, Status: "active", CreatedAt: now.Add(-time.Duration(days*24) * time.Hour)})
	}
	if _, err := tx.NewInsert().Model(&agents).Exec(ctx); err != nil {
		return err
	}
	var tasks []models.Task
	for i := 0; i < 12; i++ {
		start := now.Add(-time.Duration(i*7+1) * time.Hour)
		fin := start.Add(time.Duration(3+i) * time.Minute)
		t := models.Task{ID: models.NewID(), AgentID: agents[i%len(agents)].ID, Status: models.TaskSucceeded, Input: fmt.Sprintf("job %d", i+1),
			CreatedAt: start, StartedAt: &start, FinishedAt: &fin, AgentMinutes: int64(3 + i)}
		if i == 0 {
			t.Status, t.FinishedAt, t.AgentMinutes = models.TaskRunning, nil, 0
		}
		tasks = append(tasks, t)
	}
	if _, err := tx.NewInsert().Model(&tasks).Exec(ctx); err != nil {
		return err
	}
	end := now.UTC().Truncate(time.Hour)
	var rows []models.UsageHour
	for h := end.Add(-time.Duration(days*24) * time.Hour); !h.After(end); h = h.Add(time.Hour) {
		busy := h.Hour() >= 8 && h.Hour() <= 18 && h.Weekday() != time.Saturday && h.Weekday() != time.Sunday
		calls, mins := int64(rng.IntN(40)), int64(rng.IntN(3))
		if busy {
			calls, mins = 200+int64(rng.IntN(800)), 20+int64(rng.IntN(60))
		}
		rows = append(rows, models.UsageHour{Hour: h, APICalls: calls, AgentMinutes: mins})
	}
	_, err := tx.NewInsert().Model(&rows).Exec(ctx)
	return err
}
