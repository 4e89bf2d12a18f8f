package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// alertsForm is the alerts form with every limit off but kind's, set as given.
func alertsForm(kind, thresholds, recipients, addresses string) url.Values {
	f := url.Values{}
	for _, k := range models.LimitKinds {
		f.Set(string(k)+"_thresholds", "80, 100")
		f.Set(string(k)+"_recipients", "owners")
	}
	f.Set(kind+"_enabled", "on")
	f.Set(kind+"_thresholds", thresholds)
	f.Set(kind+"_recipients", recipients)
	f.Set(kind+"_addresses", addresses)
	return f
}

// TestAlertsSettingsForm: owners see the defaults, a bad form comes back 422 with its values and
// a message per field and saves nothing, a good one saves and redirects; admins are refused.
func TestAlertsSettingsForm(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("alerts-owner"))
	admin := app.User(webtest.UniqueEmail("alerts-admin"))
	ws := app.Workspace(owner, webtest.UniqueSlug("alerts"))
	app.AddMember(ws, admin, models.RoleAdmin)
	path := "/w/" + ws.Slug + "/settings/alerts"
	c := app.Login(owner.Email)
	page := c.Get(path)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, page.StatusCode)
	}
	doc := page.Doc()
	if n := doc.Find(`fieldset[data-testid^="alert-"]`).Length(); n != 4 {
		t.Fatalf("%d limits in the form, want 4", n)
	}
	if v, _ := doc.Find(`[data-testid="alert-thresholds-api_calls"]`).Attr("value"); v != "80, 100" {
		t.Fatalf("default thresholds %q", v)
	}
	if _, on := doc.Find(`[data-testid="alert-recipients-members-owners"]`).Attr("checked"); !on {
		t.Fatal("owners are not the default recipients")
	}
	if !page.Has("alerts-recent-empty") {
		t.Fatal("no empty state for the alerts sent")
	}
	if !c.Get("/w/" + ws.Slug + "/settings").Has("settings-alerts-link") {
		t.Fatal("the settings page does not lead to the alerts")
	}

	// Without JavaScript a refused form goes back to its page (Post/Redirect/Get), which shows it
	// once with what was typed, a message at each wrong field and the focus on the first.
	bad := alertsForm("api_calls", "80, 150", "list", "ops@example.com, nope")
	res := c.Post(path, bad)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != path {
		t.Fatalf("bad form: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = c.Get(path)
	doc = res.Doc()
	if _, focus := doc.Find(`[data-testid="alert-thresholds-api_calls"]`).Attr("autofocus"); !focus {
		t.Fatal("the first wrong field does not have the focus")
	}
	if msg := res.TestID("error-api_calls-thresholds"); !strings.Contains(msg, "150") {
		t.Fatalf("threshold error %q", msg)
	}
	if msg := res.TestID("error-api_calls-addresses"); !strings.Contains(msg, "nope") {
		t.Fatalf("address error %q", msg)
	}
	if v, _ := doc.Find(`[data-testid="alert-thresholds-api_calls"]`).Attr("value"); v != "80, 150" {
		t.Fatalf("typed thresholds lost: %q", v)
	}
	if v := doc.Find(`[data-testid="alert-addresses-api_calls"]`).Text(); v != "ops@example.com, nope" {
		t.Fatalf("typed addresses lost: %q", v)
	}
	if _, on := doc.Find(`[data-testid="alert-recipients-api_calls-list"]`).Attr("checked"); !on {
		t.Fatal("the chosen recipients were lost")
	}
	if _, on := doc.Find(`[data-testid="alert-enabled-api_calls"]`).Attr("checked"); !on {
		t.Fatal("the ticked box was lost")
	}
	if again := c.Get(path); again.Has("alerts-invalid") || again.Has("error-api_calls-thresholds") {
		t.Fatal("the refused form is shown again on the next visit")
	}
	// htmx gets the form alone, 422.
	frag := c.HTMX("POST", path, bad)
	if frag.StatusCode != http.StatusUnprocessableEntity || !frag.Has("alerts-invalid") || frag.Has("alerts-recent") {
		t.Fatalf("htmx bad form: %d", frag.StatusCode)
	}
	if v, _ := c.Get(path).Doc().Find(`[data-testid="alert-enabled-api_calls"]`).Attr("checked"); v != "" {
		t.Fatal("a refused form was saved")
	}

	res = c.Post(path, alertsForm("api_calls", "50 90", "list", "ops@example.com\noncall@example.com"))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("good form: %d", res.StatusCode)
	}
	doc = c.Get(path).Doc()
	if _, on := doc.Find(`[data-testid="alert-enabled-api_calls"]`).Attr("checked"); !on {
		t.Fatal("not saved")
	}
	if v, _ := doc.Find(`[data-testid="alert-thresholds-api_calls"]`).Attr("value"); v != "50, 90" {
		t.Fatalf("saved thresholds %q", v)
	}
	if v := doc.Find(`[data-testid="alert-addresses-api_calls"]`).Text(); v != "ops@example.com, oncall@example.com" {
		t.Fatalf("saved addresses %q", v)
	}

	a := app.Login(admin.Email)
	if res := a.Get(path); res.StatusCode != http.StatusForbidden {
		t.Fatalf("admin GET: %d", res.StatusCode)
	}
	if res := a.Post(path, alertsForm("api_calls", "10", "owners", "")); res.StatusCode != http.StatusForbidden {
		t.Fatalf("admin POST: %d", res.StatusCode)
	}
}

// TestQuotaAlertsTwoServersOneMailPerThreshold: two app servers on one database, each with its own
// pool, meter and mail worker, take 240 concurrent API calls of a workspace whose hour allows 100
// and alerts at 80 % and 100 %: exactly one alert and one delivered mail per threshold, to the
// owner only; the usage page shows them with a link to the settings; another workspace's people
// get nothing and see nothing.
func TestQuotaAlertsTwoServersOneMailPerThreshold(t *testing.T) {
	cfg := handlers.Config{DeliverMail: true, MailPollInterval: 50 * time.Millisecond}
	app := webtest.StartWith(t, cfg)
	d := testdb.Get(t)
	pool, err := d.OpenApp(context.Background(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	second := handlers.New(pool, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	second.Now = testdb.Clock
	hs := httptest.NewServer(second)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { second.Close(context.Background()) })

	owner := app.User(webtest.UniqueEmail("qa-owner"))
	admin := app.User(webtest.UniqueEmail("qa-admin"))
	ws := app.Workspace(owner, webtest.UniqueSlug("qa"))
	app.AddMember(ws, admin, models.RoleAdmin)
	otherOwner := app.User(webtest.UniqueEmail("qa-other"))
	other := app.Workspace(otherOwner, webtest.UniqueSlug("qa-other"))
	c := app.Login(owner.Email)
	if res := c.Post("/w/"+ws.Slug+"/settings/alerts", alertsForm("api_calls", "80, 100", "owners", "")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving alerts: %d", res.StatusCode)
	}
	oc := app.Login(otherOwner.Email)
	if res := oc.Post("/w/"+other.Slug+"/settings/alerts", alertsForm("api_calls", "1", "owners", "")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving B's alerts: %d", res.StatusCode)
	}
	_, key := apiKeyFor(t, app, ws, owner, models.RoleOwner, "read", "30")
	bases := []string{app.HTTP.URL, hs.URL}
	var mu sync.Mutex
	ok, limited := 0, 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < 240; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res := apiCall(t, bases[i%2], "GET", "/api/v1/workspace", key, "")
			mu.Lock()
			defer mu.Unlock()
			switch res.Status {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Errorf("call %d: %d", i, res.Status)
			}
		}(i)
	}
	wg.Wait()
	if ok != 100 || limited != 140 {
		t.Fatalf("%d admitted, %d refused; want 100 and 140", ok, limited)
	}
	// Both workers race for the two jobs; wait until the mail is delivered, then a while more.
	sent := func() []string {
		var out []string
		err := d.Owner.NewRaw("SELECT to_address || '|' || subject FROM mail_outbox WHERE event_key LIKE ? AND sent_at IS NOT NULL ORDER BY subject",
			"quota-alert:"+ws.ID.String()+":%").Scan(context.Background(), &out)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(sent()) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	mails := sent()
	if len(mails) != 2 {
		t.Fatalf("delivered %v, want one mail per threshold", mails)
	}
	for _, m := range mails {
		if !strings.HasPrefix(m, owner.Email+"|") {
			t.Fatalf("mail %q not to the owner alone", m)
		}
	}
	if !strings.Contains(mails[0], "100 %") || !strings.Contains(mails[1], "80 %") {
		t.Fatalf("subjects %v", mails)
	}
	var rows int
	if err := d.Owner.NewRaw("SELECT count(*) FROM quota_alerts WHERE workspace_id = ?", ws.ID).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Fatalf("%d alert rows, want 2", rows)
	}
	usage := c.Get("/w/" + ws.Slug + "/usage")
	if n := usage.Doc().Find(`[data-testid="quota-alert"]`).Length(); n != 2 {
		t.Fatalf("usage page shows %d alerts, want 2", n)
	}
	if href, _ := usage.Doc().Find(`[data-testid="quota-alerts-settings"]`).Attr("href"); href != "/w/"+ws.Slug+"/settings/alerts" {
		t.Fatalf("alert settings link %q", href)
	}
	if n := c.Get("/w/" + ws.Slug + "/settings/alerts").Doc().Find(`[data-testid="alert-row"]`).Length(); n != 2 {
		t.Fatalf("alerts page lists %d alerts", n)
	}
	// The admin sees the notice without the owners' settings link.
	au := app.Login(admin.Email).Get("/w/" + ws.Slug + "/usage")
	if !au.Has("quota-alerts") || au.Has("quota-alerts-settings") {
		t.Fatal("admin's usage page: notice missing or settings link shown")
	}
	// B: nothing of A's, in mail or console.
	var bMail int
	if err := d.Owner.NewRaw("SELECT count(*) FROM mail_outbox WHERE to_address = ?", otherOwner.Email).Scan(context.Background(), &bMail); err != nil {
		t.Fatal(err)
	}
	if bMail != 0 {
		t.Fatalf("B's owner got %d messages", bMail)
	}
	if oc.Get("/w/" + other.Slug + "/usage").Has("quota-alerts") {
		t.Fatal("B's usage page shows alerts")
	}
}
