package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// TestAuditLogReadsAsSentences: each event is a sentence with people by name and keys by name with
// their prefix; details are folded; a date range narrows the log and is validated; the CSV keeps
// the machine form.
func TestAuditLogReadsAsSentences(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("olivia"))
	ws := app.Workspace(owner, webtest.UniqueSlug("sentences"))
	app.SetTier(ws, models.TierPro)
	mia := app.User(webtest.UniqueEmail("mia"))
	app.AddMember(ws, mia, models.RoleMember)
	c := app.Login(owner.Email)
	_, _ = createKey(t, c, ws.Slug, "deploy bot", "read")

	day := func(n int) time.Time {
		return testdb.Now(t).UTC().Truncate(24*time.Hour).AddDate(0, 0, n).Add(9 * time.Hour)
	}
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		evs := []*models.AuditEvent{
			{ID: models.NewID(), ActorUserID: &owner.ID, Action: "member.role_change", Target: mia.Email, CreatedAt: day(-5),
				Details: map[string]any{"user_id": mia.ID.String(), "before": map[string]any{"role": "member"}, "after": map[string]any{"role": "admin"}}},
			{ID: models.NewID(), ActorUserID: &owner.ID, Action: "workspace.tier_change", Target: ws.Slug, CreatedAt: day(-10),
				Details: map[string]any{"before": map[string]any{"tier": "free"}, "after": map[string]any{"tier": "pro"}}},
		}
		_, err := tn.Tx().NewInsert().Model(&evs).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	base := "/w/" + ws.Slug + "/audit"
	sentences := func(res *webtest.Response) map[string]string {
		out := map[string]string{}
		res.Doc().Find(`[data-testid="audit-row"]`).Each(func(_ int, tr *goquery.Selection) {
			a, _ := tr.Attr("data-action")
			out[a] = strings.Join(strings.Fields(tr.Find(`[data-testid="audit-sentence"]`).Text()), " ")
		})
		return out
	}
	res := c.Get(base)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("audit: %d", res.StatusCode)
	}
	got := sentences(res)
	for action, want := range map[string]string{
		"member.role_change":    owner.Name + " changed " + mia.Name + "'s role from Member to Admin.",
		"workspace.tier_change": owner.Name + " changed the tier from Free to Pro.",
		"workspace.create":      owner.Name + " created the workspace.",
	} {
		if got[action] != want {
			t.Errorf("%s reads %q, want %q", action, got[action], want)
		}
	}
	if s := got["api_key.create"]; !strings.HasPrefix(s, owner.Name+" created the API key deploy bot (atr_") {
		t.Errorf("api_key.create reads %q", s)
	}
	// Details are folded, and hold the machine form for whoever wants it.
	row := res.Doc().Find(`[data-testid="audit-row"][data-action="member.role_change"]`)
	if d := row.Find(`details[data-testid="audit-details"]`); d.Length() != 1 || d.AttrOr("open", "closed") != "closed" ||
		strings.TrimSpace(d.Find(`[data-testid="audit-action"]`).Text()) != "member.role_change" {
		t.Errorf("details are not folded under the event: %d", d.Length())
	}
	if label := res.Doc().Find(`#f-action option[value="member.role_change"]`).Text(); label != "Role changed" {
		t.Errorf("the action filter says %q", label)
	}

	// The date range: only the role change, five days ago.
	from, to := day(-6).Format(time.DateOnly), day(-4).Format(time.DateOnly)
	res = c.Get(base + "?from=" + from + "&to=" + to)
	if got := sentences(res); res.StatusCode != http.StatusOK || len(got) != 1 || got["member.role_change"] == "" {
		t.Errorf("range %s..%s: %d, %v", from, to, res.StatusCode, got)
	}
	// A one-day range includes its whole day.
	one := day(-10).Format(time.DateOnly)
	if got := sentences(c.Get(base + "?from=" + one + "&to=" + one)); len(got) != 1 || got["workspace.tier_change"] == "" {
		t.Errorf("one day %s: %v", one, got)
	}
	// Validated: a range that ends before it starts, a date that is not one.
	res = c.Get(base + "?from=" + to + "&to=" + from)
	if res.StatusCode != http.StatusUnprocessableEntity || !res.Has("error-to") {
		t.Errorf("backwards range: %d, error shown %v", res.StatusCode, res.Has("error-to"))
	}
	res = c.Get(base + "?from=2026-13-45")
	if res.StatusCode != http.StatusUnprocessableEntity || !res.Has("error-from") {
		t.Errorf("not a date: %d, error shown %v", res.StatusCode, res.Has("error-from"))
	}

	// The CSV keeps the machine form, and the range.
	res = c.Get("/w/" + ws.Slug + "/audit.csv?from=" + from + "&to=" + to)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "member.role_change") ||
		!strings.Contains(res.Body, `""after"":{""role"":""admin""}`) || strings.Contains(res.Body, "workspace.tier_change") ||
		strings.Contains(res.Body, "changed") {
		t.Errorf("CSV: %d\n%s", res.StatusCode, res.Body)
	}
}
