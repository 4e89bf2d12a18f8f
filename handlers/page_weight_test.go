package handlers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// TestConsolePageWeight holds the heaviest console pages to a byte budget: the members page to a
// frame and so much per row, the usage page at 90 days to so much per day of the range, the
// overview to a frame. Most of a page's cost under load is rendering, writing and reading its
// bytes, and most of those were the same classes and attributes repeated on every row, cell and
// bar; the budgets keep them from creeping back. The workspace is the size the benchmark measures:
// 60 members (some with long names and addresses) and 90 days of hourly usage.
func TestConsolePageWeight(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("weight-owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("weight"))
	app.SetTier(ws, models.TierEnterprise)
	now := testdb.Now(t)
	fixClock(app, now)
	const members = 60
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range members {
			name := fmt.Sprintf("Member %d", i)
			if i%4 == 0 {
				name = fmt.Sprintf("Maximiliana Alexandra Konstantinopoulou-Featherstonehaugh %d", i)
			}
			u := &models.User{CreatedAt: now, ID: models.NewID(), Email: fmt.Sprintf("weight-member-%d-%s@example.com", i, ws.Slug), Name: name, PasswordHash: "x"}
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
			m := &models.Member{UserID: u.ID, Role: models.RoleMember, CreatedAt: now.Add(-time.Duration(i+1) * time.Hour)}
			if i%3 == 0 {
				m.Role = models.RoleViewer
			}
			if i%5 != 0 {
				seen := now.Add(-time.Duration(i+1) * time.Minute)
				m.LastSeenAt = &seen
			}
			if _, err := tn.Tx().NewInsert().Model(m).Exec(ctx); err != nil {
				return err
			}
		}
		// 90 days of hourly usage ending this hour, every hour used.
		_, err := tn.Tx().NewRaw(`INSERT INTO usage_hourly (workspace_id, hour, api_calls, agent_minutes)
			SELECT ?, date_trunc('hour', ?::timestamptz) - g * interval '1 hour', 200 + (g * 7919) % 1800, (g * 131) % 97
			FROM generate_series(0, 90 * 24 - 1) AS g`, ws.ID, now).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := app.Login(owner.Email)
	base := "/w/" + ws.Slug

	// The budgets, and what the pages weighed before their cells, bars and links were styled from
	// their tables, groups and navigation: overview 11.4 KB; members 126 KB (16 KB around 50 rows
	// of 2.2 KB); usage at 90 days 105 KB (about 1.1 KB per day: four bars and two table rows).
	const (
		overviewBudget = 10_000
		rowsPerPage    = 50
		membersBudget  = 17_000 + rowsPerPage*1_500
		usageBudget    = 15_000 + 90*460
	)
	pages := []struct {
		name, path string
		budget     int
		check      func(t *testing.T, res *webtest.Response)
	}{
		{"overview", base, overviewBudget, func(t *testing.T, res *webtest.Response) {
			if !res.Has("nav-members") {
				t.Fatal("the overview has no navigation")
			}
		}},
		{"members", base + "/members", membersBudget, func(t *testing.T, res *webtest.Response) {
			if n := res.Doc().Find(`[data-testid="member-row"]`).Length(); n != rowsPerPage {
				t.Fatalf("members page: %d rows, want %d", n, rowsPerPage)
			}
		}},
		{"usage, 90 days", base + "/usage?range=90", usageBudget, func(t *testing.T, res *webtest.Response) {
			bars := res.Doc().Find(`[data-testid="chart-agent-minutes-bars"] > rect`)
			if bars.Length() != 90 || bars.First().Find("title").Length() != 1 {
				t.Fatalf("usage page: %d bars of agent-minutes, want 90 with their tooltips", bars.Length())
			}
		}},
	}
	for _, p := range pages {
		res := c.Get(p.path)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", p.name, res.StatusCode)
		}
		t.Logf("%s: %d bytes (budget %d)", p.name, len(res.Body), p.budget)
		if dir := os.Getenv("ATRIUM_PAGE_DUMP"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, strings.NewReplacer(" ", "", ",", "").Replace(p.name)+".html"), []byte(res.Body), 0o644)
		}
		p.check(t, res)
		if len(res.Body) > p.budget {
			t.Errorf("%s weighs %d bytes, over its budget of %d", p.name, len(res.Body), p.budget)
		}
	}
}
