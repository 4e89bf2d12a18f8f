package views

import (
	"context"
	"fmt"
	"testing"
	"time"

	"atrium/views/components"
	"atrium/views/layouts"
)

// The render benchmarks time the heaviest views as the benchmark's seed fills them (the members
// page's 50 rows, the usage page's 90 days), without the database: what templ costs per page, and
// the bytes it writes (`go test -run '^$' -bench Render ./views/`).

func benchFrame() layouts.Frame {
	return layouts.Frame{Title: "Members", CSRF: "q-8AVEG8eLruH9xMSJcv00bgFM1f0kmOPMCeoMGE00M",
		User:      &layouts.UserInfo{Name: "Bench Owner", Email: "bench-owner@example.com"},
		Workspace: &layouts.WorkspaceInfo{Name: "Bench", Slug: "bench", Tier: "enterprise", Role: "Owner"},
		Switcher:  []layouts.WorkspaceLink{{Name: "Bench", Slug: "bench", Role: "Owner", Current: true}}, Nav: "members"}
}

func BenchmarkRenderMembers50(b *testing.B) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	vm := MembersPage{Frame: benchFrame(), Slug: "bench", Sort: "role", RoleFilters: MemberRoleFilters, SortChoices: MemberSortChoices, Total: 1000, CanInvite: true}
	vm.Pager = components.Pager{Page: 1, Pages: 20, Total: 1000, PerPage: 50, Base: "/w/bench/members", Label: "Member pages", Noun: "members", Target: "#members-table", TestID: "members"}
	for i := range 50 {
		vm.Rows = append(vm.Rows, MemberRowVM{Slug: "bench", UserID: fmt.Sprintf("01a03945-e9f5-74b4-8c01-%012d", i), Name: fmt.Sprintf("Member %d", i),
			Email: fmt.Sprintf("bench-member-%d@example.com", i), Role: "admin", RoleLabel: "Admin", Joined: now.Add(-time.Duration(i) * 24 * time.Hour),
			LastActive: now.Add(-time.Duration(i) * time.Hour), CanRemove: true, CanTransfer: true, CanChangeRole: true})
	}
	ctx := components.WithNow(context.Background(), now)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		w := &countWriter{}
		if err := MembersView(vm).Render(ctx, w); err != nil {
			b.Fatal(err)
		}
		n = w.n
	}
	b.ReportMetric(float64(n), "bytes/page")
}

func BenchmarkRenderUsage90(b *testing.B) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	var pts, api []components.ChartPoint
	var rows, apiRows [][]string
	for i := range 90 {
		d := now.AddDate(0, 0, i-89)
		p := components.ChartPoint{Value: int64(1000 + i*7%300), Label: d.Format("Mon Jan 2") + ": 1,081 agent-minutes"}
		if i%15 == 0 {
			p.Tick = d.Format("Jan 2")
		}
		pts = append(pts, p)
		api = append(api, components.ChartPoint{Value: int64(30000 + i*77%3000), Tick: p.Tick, Label: d.Format("Mon Jan 2") + ": 31,234 API calls"})
		rows = append(rows, []string{d.Format("Mon Jan 2, 2006"), "1,081"})
		apiRows = append(apiRows, []string{d.Format("Mon Jan 2, 2006"), "31,234", "14:00", "1,999"})
	}
	f := func(v int64) string { return fmt.Sprint(v) }
	vm := UsagePage{Frame: benchFrame(), Name: "Bench", Slug: "bench", Tier: "Enterprise", Range: 90}
	vm.AgentChart = components.NewChart("chart-agent-minutes", "Agent-minutes per day", "desc", components.ChartBars, pts, f)
	vm.AgentChart.TableHead, vm.AgentChart.TableRows = []string{"Day (UTC)", "Agent-minutes"}, rows
	vm.APIChart = components.NewChart("chart-api-calls", "API calls per day", "desc", components.ChartBars, api, f)
	vm.APIChart.TableHead, vm.APIChart.TableRows = []string{"Day (UTC)", "API calls", "Peak hour", "Calls in it"}, apiRows
	ctx := components.WithNow(context.Background(), now)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		w := &countWriter{}
		if err := UsageView(vm).Render(ctx, w); err != nil {
			b.Fatal(err)
		}
		n = w.n
	}
	b.ReportMetric(float64(n), "bytes/page")
}

// countWriter counts what a view writes.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
