package handlers_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
	"atrium/views/components"
)

// putUsageRow writes one hour's use of ws directly, the way the metering leaves it.
func putUsageRow(t *testing.T, app *webtest.App, ws *models.Workspace, hour time.Time, calls, minutes int64) {
	t.Helper()
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewInsert().Model(&models.UsageHour{Hour: hour.UTC().Truncate(time.Hour), APICalls: calls, AgentMinutes: minutes}).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fixClock sets the server's clock.
func fixClock(app *webtest.App, now time.Time) { app.Server.Now = func() time.Time { return now } }

// readCSV parses a CSV body, failing the test when it does not parse.
func readCSV(t *testing.T, res *webtest.Response) [][]string {
	t.Helper()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("CSV download: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, res.Body)
	}
	return recs
}

func parseCount(s string) int64 {
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	if err != nil {
		panic("not a count: " + s)
	}
	return n
}

func TestUsagePageIsForEveryMember(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	for _, role := range models.Roles {
		t.Run(string(role), func(t *testing.T) {
			res := c.clients[role].Get("/w/" + sp.ws.Slug + "/usage")
			if res.StatusCode != http.StatusOK || !res.Has("meter-agent-minutes") || !res.Has("chart-agent-minutes") {
				t.Fatalf("usage page: %d", res.StatusCode)
			}
			if got := res.Has("change-tier"); got != (role == models.RoleOwner) {
				t.Errorf("change-tier link shown: %v", got)
			}
			if res := c.clients[role].Get("/w/" + sp.ws.Slug + "/usage.csv"); res.StatusCode != http.StatusOK {
				t.Errorf("usage.csv: %d", res.StatusCode)
			}
		})
	}
}

// TestUsagePageMatchesMeteredEventsAndCSV: with the clock half an hour into November, the month
// counts November's hours only, the 7-day range counts both sides, the day table splits them at
// midnight UTC, and the CSV parses to the same numbers as the page.
func TestUsagePageMatchesMeteredEventsAndCSV(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("use"))
	app.SetTier(ws, models.TierPro)
	other := app.Workspace(owner, webtest.UniqueSlug("other"))
	// Half an hour into a month, with the last hour of the month before and earlier days.
	month := models.MonthStart(testdb.Now(t))
	now := month.Add(30 * time.Minute)
	lastHour := month.Add(-time.Hour)
	fixClock(app, now)
	putUsageRow(t, app, ws, lastHour, 40, 300)
	putUsageRow(t, app, ws, month.AddDate(0, 0, -4).Add(5*time.Hour), 3, 2)
	putUsageRow(t, app, ws, month.AddDate(0, 0, -12).Add(5*time.Hour), 1000, 1000) // before the 7 days
	putUsageRow(t, app, ws, now, 7, 11)
	putUsageRow(t, app, other, now, 5000, 5000)
	cl := app.Login(owner.Email)

	res := cl.Get("/w/" + ws.Slug + "/usage?range=7")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("usage: %d", res.StatusCode)
	}
	for id, want := range map[string]string{
		"month-agent-minutes": "11", "month-api-calls": "7", "meter-agent-minutes-used": "11", "meter-api-calls-used": "7",
		"range-agent-minutes": "313", "range-api-calls": "50", "meter-agent-minutes-resets": "Starts again " + components.Relative(month.AddDate(0, 1, 0), now),
		"meter-api-calls-resets": "Starts again in 30 min", "tier": "Pro",
	} {
		if got := res.TestID(id); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	doc := res.Doc()
	if title, _ := doc.Find(`[data-testid="meter-api-calls-resets"] time`).Attr("title"); title != components.Exact(month.Add(time.Hour)) {
		t.Errorf("the reset's exact time on hover is %q", title)
	}
	if n := doc.Find(`[data-testid="chart-agent-minutes-bars"] > rect`).Length(); n != 7 {
		t.Errorf("%d day bars, want 7", n)
	}
	svg := doc.Find(`[data-testid="chart-api-calls-svg"]`)
	if role, _ := svg.Attr("role"); role != "img" || svg.Find("title").First().Text() != "API calls per hour" ||
		!strings.Contains(svg.Find("desc").Text(), "50 in all") {
		t.Errorf("API chart lacks its accessible name: role %q, %q", role, svg.Find("desc").Text())
	}
	if p, _ := doc.Find(`[data-testid="usage-numbers"]`).Attr("hx-trigger"); p != "every 30s" {
		t.Errorf("numbers poll with %q", p)
	}
	// The day table of the agent-minutes chart, newest first.
	pageDays := map[string]int64{}
	doc.Find(`[data-testid="chart-agent-minutes-table"] tbody tr`).Each(func(_ int, tr *goquery.Selection) {
		pageDays[strings.TrimSpace(tr.Find("th").Text())] = parseCount(tr.Find("td").First().Text())
	})
	if pageDays[lastHour.Format("Mon Jan 2, 2006")] != 300 || pageDays[month.Format("Mon Jan 2, 2006")] != 11 || len(pageDays) != 7 {
		t.Fatalf("day table %v", pageDays)
	}

	recs := readCSV(t, cl.Get("/w/"+ws.Slug+"/usage.csv?range=7"))
	if strings.Join(recs[0], ",") != "hour_utc,api_calls,agent_minutes" || len(recs) != 1+6*24+1 {
		t.Fatalf("CSV header %v and %d rows", recs[0], len(recs))
	}
	var calls, minutes int64
	csvDays := map[string]int64{}
	for _, r := range recs[1:] {
		at, err := time.Parse(time.RFC3339, r[0])
		if err != nil {
			t.Fatal(err)
		}
		calls += parseCount(r[1])
		minutes += parseCount(r[2])
		csvDays[at.Format("Mon Jan 2, 2006")] += parseCount(r[2])
	}
	if calls != parseCount(res.TestID("range-api-calls")) || minutes != parseCount(res.TestID("range-agent-minutes")) {
		t.Errorf("CSV sums %d calls and %d minutes, the page %s and %s", calls, minutes, res.TestID("range-api-calls"), res.TestID("range-agent-minutes"))
	}
	for day, n := range pageDays {
		if csvDays[day] != n {
			t.Errorf("%s: page %d, CSV %d", day, n, csvDays[day])
		}
	}

	t.Run("polling gets the numbers alone", func(t *testing.T) {
		res := cl.HTMX(http.MethodGet, "/w/"+ws.Slug+"/usage?range=7", nil)
		if res.StatusCode != http.StatusOK || res.Has("chart-agent-minutes") || strings.Contains(res.Body, "<html") ||
			res.TestID("month-api-calls") != "7" || !strings.Contains(res.Body, `hx-get="/w/`+ws.Slug+`/usage?range=7"`) {
			t.Fatalf("fragment: %d\n%s", res.StatusCode, res.Body)
		}
	})
	t.Run("ranges", func(t *testing.T) {
		for _, r := range []string{"30", "90", "bogus"} {
			res := cl.Get("/w/" + ws.Slug + "/usage?range=" + r)
			want := map[string]int{"30": 30, "90": 90, "bogus": 30}[r]
			if n := res.Doc().Find(`[data-testid="chart-agent-minutes-bars"] > rect`).Length(); n != want {
				t.Errorf("range %s: %d bars, want %d", r, n, want)
			}
		}
		if got := cl.Get("/w/" + ws.Slug + "/usage?range=30").TestID("range-agent-minutes"); got != "1,313" {
			t.Errorf("30 days: %s agent-minutes, want 1,313", got)
		}
	})
}

// TestUsageWarnings: a limit warns amber from 80 % and red at 100 % on the usage page (with the
// way forward for owners, not for others); at 79 % nothing; a Free workspace whose only member is
// its owner is not over anything; only a limit that refuses work puts one compact notice in the
// overview's frame, never a stack of banners, and seats are not warned of here.
func TestUsageWarnings(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("warn"))
	// Mid-month, so the hours before this one are in this month too.
	now := models.MonthStart(testdb.Now(t)).AddDate(0, 0, 14).Add(12 * time.Hour)
	fixClock(app, now)
	cl := app.Login(owner.Email)
	type warning struct{ level, text string }
	warnings := func(c *webtest.Client, path string) (out []warning, notices int, doc *goquery.Document) {
		doc = c.Get(path).Doc()
		doc.Find(`[data-testid="usage-warning"]`).Each(func(_ int, s *goquery.Selection) {
			level, _ := s.Attr("data-level")
			out = append(out, warning{level, strings.TrimSpace(s.Text())})
		})
		return out, doc.Find(`[data-testid="limit-notice"]`).Length(), doc
	}
	level := func(doc *goquery.Document, meter string) string {
		l, _ := doc.Find(`[data-testid="meter-` + meter + `"]`).Attr("data-level")
		return l
	}
	overview, usage := "/w/"+ws.Slug, "/w/"+ws.Slug+"/usage"
	// Free, the owner alone: 1 of 1 seats is no warning, anywhere.
	for _, path := range []string{overview, usage} {
		w, n, doc := warnings(cl, path)
		if len(w) != 0 || n != 0 || level(doc, "members") != "" {
			t.Fatalf("%s, the owner alone: warnings %v, %d notices, seats level %q", path, w, n, level(doc, "members"))
		}
	}
	// 790 of 1,000 agent-minutes: 79 %, nothing.
	putUsageRow(t, app, ws, now.Add(-2*time.Hour), 0, 790)
	if w, n, doc := warnings(cl, usage); len(w) != 0 || n != 0 || level(doc, "agent-minutes") != "" {
		t.Fatalf("at 79 %%: %v, %d notices, level %q", w, n, level(doc, "agent-minutes"))
	}
	// 800 of 1,000: 80 %, amber, with the way forward for the owner; no notice in the frame.
	putUsageRow(t, app, ws, now.Add(-3*time.Hour), 0, 10)
	w, n, doc := warnings(cl, usage)
	if len(w) != 1 || w[0].level != "warn" || !strings.HasPrefix(w[0].text, "Agent-minutes this month: 800 of 1,000 used (80 %).") ||
		level(doc, "agent-minutes") != "warn" || n != 0 {
		t.Fatalf("at 80 %%: %v, %d notices, level %q", w, n, level(doc, "agent-minutes"))
	}
	if href, _ := doc.Find(`[data-testid="warning-tier"]`).Attr("href"); href != "/w/"+ws.Slug+"/settings#tier" {
		t.Errorf("the owner's way forward: %q", href)
	}
	if _, n, _ := warnings(cl, overview); n != 0 {
		t.Errorf("80 %% puts a notice in the overview's frame")
	}
	// 100 API calls of 100 this hour: red, and one compact notice on the overview.
	putUsageRow(t, app, ws, now, 100, 0)
	w, _, doc = warnings(cl, usage)
	if len(w) != 2 || w[1].level != "limit" || !strings.HasPrefix(w[1].text, "API calls this hour: the limit of 100 is reached; API calls are refused") ||
		level(doc, "api-calls") != "limit" {
		t.Fatalf("at 100 %%: %v, level %q", w, level(doc, "api-calls"))
	}
	_, n, doc = warnings(cl, overview)
	notice := doc.Find(`[data-testid="limit-notice"]`)
	if n != 1 || !strings.Contains(notice.Text(), "API calls this hour") || strings.Contains(notice.Text(), "Agent-minutes") ||
		notice.Find(`[data-testid="limit-notice-tier"]`).Length() != 1 {
		t.Fatalf("overview at 100 %%: %d notices: %q", n, notice.Text())
	}
	if _, n, _ := warnings(cl, "/w/"+ws.Slug+"/members"); n != 0 {
		t.Error("the notice follows the person to Members")
	}
	// A member sees the same warnings without a way to change the tier.
	mate := app.User(webtest.UniqueEmail("mate"))
	app.AddMember(ws, mate, models.RoleMember)
	mc := app.Login(mate.Email)
	w, _, doc = warnings(mc, usage)
	if len(w) != 2 || doc.Find(`[data-testid="warning-tier"]`).Length() != 0 {
		t.Errorf("a member sees %v, and a way to change the tier: %v", w, doc.Find(`[data-testid="warning-tier"]`).Length() != 0)
	}
}
