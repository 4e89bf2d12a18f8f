package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// auditRows reads the audit table's rows as "action target" strings.
func auditRows(res *webtest.Response) []string {
	var out []string
	res.Doc().Find(`[data-testid="audit-row"]`).Each(func(_ int, tr *goquery.Selection) {
		out = append(out, strings.TrimSpace(tr.Find(`[data-testid="audit-action"]`).Text())+" "+
			strings.TrimSpace(tr.Find(`[data-testid="audit-target"]`).Text()))
	})
	return out
}

func TestAuditLogAccessPagesFiltersAndCSV(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	base := "/w/" + sp.ws.Slug + "/audit"
	t.Run("roles", func(t *testing.T) {
		for role, want := range map[models.Role]int{models.RoleOwner: 200, models.RoleAdmin: 200, models.RoleMember: 403, models.RoleViewer: 403} {
			if res := c.clients[role].Get(base); res.StatusCode != want {
				t.Errorf("%s: %d, want %d", role, res.StatusCode, want)
			}
			if res := c.clients[role].Get(base + ".csv"); res.StatusCode != want {
				t.Errorf("%s CSV: %d, want %d", role, res.StatusCode, want)
			}
		}
	})

	// 70 events by the admin, a minute apart, after what the fixture recorded.
	start := testdb.Now(t).Add(time.Hour)
	err := models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		var evs []*models.AuditEvent
		for i := range 70 {
			action := "test.even"
			if i%2 == 1 {
				action = "test.odd"
			}
			evs = append(evs, &models.AuditEvent{ID: models.NewID(), ActorUserID: &c.admin.ID, Action: action,
				Target: fmt.Sprintf("t%02d", i), Details: map[string]any{"i": i}, CreatedAt: start.Add(time.Duration(i) * time.Minute)})
		}
		_, err := tn.Tx().NewInsert().Model(&evs).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := c.clients[models.RoleAdmin]
	first := cl.Get(base)
	rows := auditRows(first)
	if len(rows) != models.AuditPageSize || rows[0] != "test.odd t69" || rows[49] != "test.even t20" {
		t.Fatalf("first page: %d rows, %q … %q", len(rows), rows[0], rows[len(rows)-1])
	}
	next, ok := first.Doc().Find(`[data-testid="audit-pagination"] [data-testid="page-next"]`).Attr("href")
	if !ok {
		t.Fatal("no link to older events")
	}
	second := cl.Get(next)
	rows2 := auditRows(second)
	if len(rows2) == 0 || rows2[0] != "test.odd t19" || !second.Has("page-first") {
		t.Fatalf("second page starts with %q", rows2)
	}

	filtered := cl.Get(base + "?action=test.odd&actor=" + c.admin.Email)
	fr := auditRows(filtered)
	if len(fr) != 35 || filtered.Has("page-next") {
		t.Fatalf("filtered: %d rows", len(fr))
	}
	if sel, _ := filtered.Doc().Find(`#f-action option[selected]`).Attr("value"); sel != "test.odd" {
		t.Errorf("the action filter shows %q", sel)
	}
	if frag := cl.HTMX(http.MethodGet, base+"?action=test.even", nil); strings.Contains(frag.Body, "<html") || len(auditRows(frag)) != 35 {
		t.Errorf("htmx filter: %d rows", len(auditRows(frag)))
	}
	if empty := cl.Get(base + "?actor=nobody@example.com"); !empty.Has("audit-empty") {
		t.Error("no empty state for a filter that matches nothing")
	}

	// The CSV of the filter holds the same events, in the same order, as the page.
	csvURL, _ := filtered.Doc().Find(`[data-testid="audit-csv"]`).Attr("href")
	recs := readCSV(t, cl.Get(csvURL))
	if strings.Join(recs[0], ",") != strings.Join(models.AuditCSVHeader, ",") || len(recs) != 1+len(fr) {
		t.Fatalf("CSV: header %v, %d rows for %d on the page", recs[0], len(recs)-1, len(fr))
	}
	for i, r := range recs[1:] {
		if got := r[5] + " " + r[6]; got != fr[i] || r[2] != c.admin.Email {
			t.Fatalf("CSV row %d %q, page %q", i, r, fr[i])
		}
	}
}
