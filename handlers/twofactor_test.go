package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp/totp"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// testClock is a server clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

func startClock(t *testing.T, app *webtest.App) *testClock {
	c := &testClock{at: testdb.Now(t)}
	app.Server.Now = c.now
	return c
}

// code is the authenticator's code for secret at t.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// platformEvents counts the platform audit events of action about target.
func platformEvents(t *testing.T, app *webtest.App, action, target string) int {
	t.Helper()
	var n int
	err := app.DB.Owner.NewRaw("SELECT count(*) FROM platform_events WHERE action = ? AND target = ?", action, target).
		Scan(context.Background(), &n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// enrol turns two-factor on through the pages, at the clock's time, and returns the secret and
// the recovery codes.
func enrol(t *testing.T, app *webtest.App, c *webtest.Client, clock *testClock) (string, []string) {
	t.Helper()
	page := c.Get("/account/two-factor")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("two-factor page: %d", page.StatusCode)
	}
	secret, _ := page.Doc().Find("[data-totp-secret]").Attr("data-totp-secret")
	if secret == "" || strings.TrimSpace(page.Doc().Find("[data-totp-secret]").Text()) != secret {
		t.Fatalf("no secret on the page")
	}
	if src, _ := page.Doc().Find(`[data-testid="totp-qr"]`).Attr("src"); !strings.HasPrefix(src, "data:image/png;base64,") || len(src) < 200 {
		t.Fatalf("QR code %.60q", src)
	}
	if again := c.Get("/account/two-factor"); !strings.Contains(again.Body, secret) {
		t.Fatal("reloading the page changed the secret")
	}
	res := c.Back(c.Post("/account/two-factor/enable", url.Values{"code": {"000000"}}), "/account/two-factor")
	if !res.Has("error-code") || !strings.Contains(res.Body, secret) {
		t.Fatalf("wrong first code: %d, message %v", res.StatusCode, res.Has("error-code"))
	}
	// The codes are shown once, after a redirect: a reload neither sends the form again nor
	// shows them twice.
	res = c.Back(c.Post("/account/two-factor/enable", url.Values{"code": {code(t, secret, clock.now())}}), "/account/two-factor/recovery-codes")
	if res.StatusCode != http.StatusOK || !res.Has("two-factor-enabled") || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("enable: %d %s", res.StatusCode, res.TestID("error-code"))
	}
	if again := c.Get("/account/two-factor/recovery-codes"); again.StatusCode != http.StatusSeeOther || again.Header.Get("Location") != "/account/two-factor" {
		t.Fatalf("the codes' page again: %d to %q", again.StatusCode, again.Header.Get("Location"))
	}
	var codes []string
	res.Doc().Find(`[data-testid="recovery-code"]`).Each(func(_ int, s *goquery.Selection) {
		codes = append(codes, strings.TrimSpace(s.Text()))
	})
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return secret, codes
}

// passwordStep logs a new client in with the password only, expecting the second step.
func passwordStep(t *testing.T, app *webtest.App, email string) *webtest.Client {
	t.Helper()
	c := app.Client()
	c.Get("/login")
	res := c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login/two-factor" {
		t.Fatalf("password: %d to %q, want 303 to /login/two-factor", res.StatusCode, res.Header.Get("Location"))
	}
	return c
}

func TestTwoFactorEnrolmentLoginReplayAndRecovery(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	u := app.User(webtest.UniqueEmail("tf"))
	c := app.Login(u.Email)
	secret, recovery := enrol(t, app, c, clock)
	if n := platformEvents(t, app, "user.two_factor_enable", u.Email); n != 1 {
		t.Fatalf("%d enable events", n)
	}
	var stored int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM user_recovery_codes WHERE user_id = ? AND code_hash = ANY(?)", u.ID,
		"{"+strings.Join(recovery, ",")+"}").Scan(context.Background(), &stored); err != nil || stored != 0 {
		t.Fatalf("recovery codes stored as they are: %d, %v", stored, err)
	}

	// The password alone is not a log-in: the session is pending, the console closed.
	p := passwordStep(t, app, u.Email)
	if res := p.Get("/workspaces"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("pending session opened /workspaces: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := p.Get("/login/two-factor"); res.StatusCode != http.StatusOK || !res.Has("code-form") {
		t.Fatalf("second step page: %d", res.StatusCode)
	}
	// The enrolment's code was used already.
	if res := p.Back(p.Post("/login/two-factor", url.Values{"code": {code(t, secret, clock.now())}}), "/login/two-factor"); !strings.Contains(res.TestID("auth-message"), "not right") {
		t.Fatalf("enrolment's code again: %q", res.TestID("auth-message"))
	}
	clock.add(30 * time.Second)
	next := code(t, secret, clock.now())
	res := p.Post("/login/two-factor", url.Values{"code": {next}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("right code: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := p.Get("/account"); res.StatusCode != http.StatusOK || res.TestID("account-2fa") == "" {
		t.Fatalf("signed in after the code: %d", res.StatusCode)
	}

	// The same code a second time is refused, even from another browser.
	q := passwordStep(t, app, u.Email)
	if res := q.Back(q.Post("/login/two-factor", url.Values{"code": {next}}), "/login/two-factor"); !strings.Contains(res.TestID("auth-message"), "not right") {
		t.Fatalf("replayed code: %q", res.TestID("auth-message"))
	}
	// A recovery code works once.
	res = q.Post("/login/two-factor", url.Values{"recovery_code": {strings.ToUpper(recovery[3])}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery code: %d %s", res.StatusCode, res.TestID("auth-message"))
	}
	if got := q.Get("/account/two-factor").TestID("recovery-left"); !strings.HasPrefix(got, "9 ") {
		t.Fatalf("recovery codes left: %q", got)
	}
	r := passwordStep(t, app, u.Email)
	if res := r.Back(r.Post("/login/two-factor", url.Values{"recovery_code": {recovery[3]}}), "/login/two-factor"); !strings.Contains(res.TestID("auth-message"), "recovery code is not right") {
		t.Fatalf("recovery code twice: %q", res.TestID("auth-message"))
	}
	if n := platformEvents(t, app, "user.recovery_code_used", u.Email); n != 1 {
		t.Fatalf("%d recovery code events", n)
	}

	// Turning it off needs the password and a current code.
	clock.add(30 * time.Second)
	if res := c.Back(c.Post("/account/two-factor/disable", url.Values{"password": {"wrong password here"}, "code": {code(t, secret, clock.now())}}), "/account/two-factor"); !res.Has("error-password") {
		t.Fatalf("disable with a wrong password: no message")
	}
	if res := c.Back(c.Post("/account/two-factor/disable", url.Values{"password": {webtest.Password}, "code": {"123456"}}), "/account/two-factor"); !res.Has("error-code") {
		t.Fatalf("disable with a wrong code: no message")
	}
	if res := c.Post("/account/two-factor/disable", url.Values{"password": {webtest.Password}, "code": {code(t, secret, clock.now())}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if n := platformEvents(t, app, "user.two_factor_disable", u.Email); n != 1 {
		t.Fatalf("%d disable events", n)
	}
	app.Login(u.Email) // the password alone again
}

func TestTwoFactorRecoveryCodesRegenerate(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	u := app.User(webtest.UniqueEmail("tf-regen"))
	c := app.Login(u.Email)
	secret, old := enrol(t, app, c, clock)
	clock.add(30 * time.Second)
	if res := c.Back(c.Post("/account/two-factor/recovery-codes", url.Values{"password": {webtest.Password}}), "/account/two-factor"); !res.Has("error-code") {
		t.Fatalf("without a code: no message")
	}
	res := c.Back(c.Post("/account/two-factor/recovery-codes", url.Values{"password": {webtest.Password}, "code": {code(t, secret, clock.now())}}), "/account/two-factor/recovery-codes")
	if res.StatusCode != http.StatusOK || res.Doc().Find(`[data-testid="recovery-code"]`).Length() != 10 {
		t.Fatalf("new codes: %d", res.StatusCode)
	}
	p := passwordStep(t, app, u.Email)
	if res := p.Back(p.Post("/login/two-factor", url.Values{"recovery_code": {old[0]}}), "/login/two-factor"); !res.Has("auth-message") {
		t.Fatalf("an old recovery code after new ones: no refusal")
	}
}

func TestTwoFactorThrottle(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	u := app.User(webtest.UniqueEmail("tf-throttle"))
	secret := app.EnableTwoFactor(u)
	p := passwordStep(t, app, u.Email)
	for i := range models.SecondFactorUserMax {
		if res := p.Back(p.Post("/login/two-factor", url.Values{"code": {"000000"}}), "/login/two-factor"); !strings.Contains(res.TestID("auth-message"), "not right") {
			t.Fatalf("wrong code %d: %q", i, res.TestID("auth-message"))
		}
	}
	clock.add(30 * time.Second)
	res := p.Post("/login/two-factor", url.Values{"code": {code(t, secret, clock.now())}})
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if page := p.Back(res, "/login/two-factor"); !strings.Contains(page.TestID("auth-message"), "Too many wrong codes") {
		t.Fatalf("right code after %d wrong ones: %q", models.SecondFactorUserMax, page.TestID("auth-message"))
	}
	// The password's own throttle is apart: the password still passes, the second step stays locked.
	q := passwordStep(t, app, u.Email)
	if res := q.Back(q.Post("/login/two-factor", url.Values{"code": {code(t, secret, clock.now())}}), "/login/two-factor"); !strings.Contains(res.TestID("auth-message"), "Too many wrong codes") {
		t.Fatalf("another browser: %q", res.TestID("auth-message"))
	}
	clock.add(models.ThrottleWindow + time.Minute)
	if res := q.Post("/login/two-factor", url.Values{"code": {code(t, secret, clock.now())}}); res.StatusCode != http.StatusSeeOther {
		// The pending log-in itself expired (it waits ten minutes): log in again.
		q = passwordStep(t, app, u.Email)
		if res := q.Post("/login/two-factor", url.Values{"code": {code(t, secret, clock.now())}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("after the window: %d", res.StatusCode)
		}
	}
}

func TestPendingLoginExpires(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	u := app.User(webtest.UniqueEmail("tf-pending"))
	secret := app.EnableTwoFactor(u)
	p := passwordStep(t, app, u.Email)
	clock.add(11 * time.Minute)
	res := p.Post("/login/two-factor", url.Values{"code": {code(t, secret, clock.now())}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("a code 11 minutes after the password: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := p.Get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed in anyway: %d", res.StatusCode)
	}
}

func TestStepUp(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	owner := app.User(webtest.UniqueEmail("stepup"))
	ws := app.Workspace(owner, webtest.UniqueSlug("stepup"))
	c := app.Login(owner.Email)
	keys := "/w/" + ws.Slug + "/keys"
	c.Get(keys)

	// Fresh from log-in: a read-write key needs nothing more.
	res := c.Post(keys, url.Values{"name": {"fresh"}, "scope": {"read_write"}, "expires_in_days": {"0"}})
	if res.StatusCode != http.StatusSeeOther || countKeys(t, app, ws, "fresh") != 1 {
		t.Fatalf("fresh session: %d, step-up %v", res.StatusCode, res.Has("step-up"))
	}
	clock.add(11 * time.Minute)
	// A read key never asks.
	if res := c.Post(keys, url.Values{"name": {"reader"}, "scope": {"read"}, "expires_in_days": {"0"}}); res.Has("step-up") {
		t.Fatal("a read key asked to step up")
	}
	// Without JavaScript the action ends in a redirect to the step-up page, whose form posts the
	// action again with its fields; a reload shows it again.
	res = c.Back(c.Post(keys, url.Values{"name": {"stale"}, "scope": {"read_write"}, "expires_in_days": {"0"}}), "/account/step-up")
	for _, page := range []*webtest.Response{res, c.Get("/account/step-up")} {
		if !page.Has("step-up") || page.Has("step-up-error") {
			t.Fatalf("11 minutes on: step-up %v, error %v", page.Has("step-up"), page.Has("step-up-error"))
		}
		if v, _ := page.Doc().Find(`[data-testid="step-up"] input[name="name"]`).Attr("value"); v != "stale" {
			t.Fatalf("the form does not carry the key's name: %q", v)
		}
		if a, _ := page.Doc().Find(`[data-testid="step-up"] form`).Attr("action"); a != keys {
			t.Fatalf("the form posts to %q, want %q", a, keys)
		}
	}
	if countKeys(t, app, ws, "stale") != 0 {
		t.Fatal("the key was made before the step-up")
	}
	res = c.Back(c.Post(keys, url.Values{"name": {"stale"}, "scope": {"read_write"}, "expires_in_days": {"0"}, "step_up": {"1"}, "step_up_password": {"not the password"}}), "/account/step-up")
	if !res.Has("step-up-error") || strings.Contains(res.Body, "not the password") || res.Doc().Find(`input[name="name"][value="stale"]`).Length() != 1 {
		t.Fatalf("wrong step-up password: error %v", res.Has("step-up-error"))
	}
	if again := c.Get("/account/step-up"); again.Has("step-up-error") || !again.Has("step-up") {
		t.Fatalf("after a reload: error %v, form %v", again.Has("step-up-error"), again.Has("step-up"))
	}
	res = c.Post(keys, url.Values{"name": {"stale"}, "scope": {"read_write"}, "expires_in_days": {"0"}, "step_up": {"1"}, "step_up_password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther || countKeys(t, app, ws, "stale") != 1 {
		t.Fatalf("step-up with the password: %d, key made %d", res.StatusCode, countKeys(t, app, ws, "stale"))
	}
	// Recent now: the next one goes through.
	if res := c.Post(keys, url.Values{"name": {"again"}, "scope": {"read_write"}, "expires_in_days": {"0"}}); res.Has("step-up") || countKeys(t, app, ws, "again") != 1 {
		t.Fatal("asked again right after stepping up")
	}

	// htmx: the form comes into the page's main area.
	clock.add(11 * time.Minute)
	res = c.HTMX(http.MethodPost, keys, url.Values{"name": {"hx"}, "scope": {"read_write"}, "expires_in_days": {"0"}})
	if !res.Has("step-up") || res.Header.Get("HX-Retarget") != "#main" {
		t.Fatalf("htmx step-up: %d %q", res.StatusCode, res.Header.Get("HX-Retarget"))
	}

	// Deleting the workspace with an authenticator code.
	secret := app.EnableTwoFactor(owner)
	clock.add(30 * time.Second)
	del := "/w/" + ws.Slug + "/settings/delete"
	res = c.Back(c.Post(del, url.Values{"confirm": {ws.Slug}}), "/account/step-up")
	if !res.Has("step-up") || res.Doc().Find(`#f-step_up_code`).Length() != 1 {
		t.Fatalf("delete without recent authentication: %d", res.StatusCode)
	}
	res = c.Post(del, url.Values{"confirm": {ws.Slug}, "step_up": {"1"}, "step_up_code": {code(t, secret, clock.now())}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/workspaces" {
		t.Fatalf("delete after a code: %d %s", res.StatusCode, res.TestID("step-up-error"))
	}
	// Confirmed, the form no longer waits: the step-up page has nothing to show.
	if res := c.Get("/account/step-up"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the step-up page after the action: %d", res.StatusCode)
	}
}

// countKeys counts the workspace's keys named name.
func countKeys(t *testing.T, app *webtest.App, ws *models.Workspace, name string) int {
	t.Helper()
	var n int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM api_keys WHERE workspace_id = ? AND name = ?", ws.ID, name).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWorkspaceRequiresTwoFactor(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	owner := app.User(webtest.UniqueEmail("req-owner"))
	member := app.User(webtest.UniqueEmail("req-member"))
	ws := app.Workspace(owner, webtest.UniqueSlug("req"))
	app.AddMember(ws, member, models.RoleMember)
	oc := app.Login(owner.Email)
	set := "/w/" + ws.Slug + "/settings/two-factor"
	oc.Get("/w/" + ws.Slug + "/settings")
	// An owner without a second factor cannot require one.
	if res := oc.Follow(oc.Post(set, url.Values{"require_two_factor": {"on"}})); !res.Has("error-require_two_factor") {
		t.Fatalf("require without own 2FA: %d", res.StatusCode)
	}
	enrol(t, app, oc, clock)
	if res := oc.Post(set, url.Values{"require_two_factor": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("require: %d", res.StatusCode)
	}
	var audited int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'workspace.require_two_factor' AND details->'after'->>'require_two_factor' = 'true'",
		ws.ID).Scan(context.Background(), &audited); err != nil || audited != 1 {
		t.Fatalf("audited %d, %v", audited, err)
	}
	members := oc.Get("/w/" + ws.Slug + "/members")
	if members.StatusCode != http.StatusOK {
		t.Fatalf("owner's members page: %d", members.StatusCode)
	}
	badge := func(email string) bool {
		return members.Doc().Find(`[data-testid="member-row"][data-email="`+email+`"] [data-testid="member-2fa-on"]`).Length() == 1
	}
	if !badge(owner.Email) || badge(member.Email) {
		t.Fatalf("2FA badges: owner %v, member %v", badge(owner.Email), badge(member.Email))
	}

	mc := app.Login(member.Email)
	res := mc.Get("/w/" + ws.Slug + "/usage")
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/account/two-factor?next=") {
		t.Fatalf("member without 2FA: %d %q", res.StatusCode, loc)
	}
	if res := mc.Get(loc); !res.Has("two-factor-required") {
		t.Fatal("the two-factor page does not say why")
	}
	// Other workspaces and the account stay open.
	if res := mc.Get("/workspaces"); res.StatusCode != http.StatusOK {
		t.Fatalf("workspaces list: %d", res.StatusCode)
	}
	clock.add(time.Minute)
	enrol(t, app, mc, clock)
	if res := mc.Get("/w/" + ws.Slug + "/usage"); res.StatusCode != http.StatusOK {
		t.Fatalf("member with 2FA: %d", res.StatusCode)
	}
}

func TestSupportNeedsTwoFactor(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	u, err := models.CreateUser(context.Background(), app.DB.App, models.NewUser{Email: webtest.UniqueEmail("sup-2fa"), Password: webtest.Password,
		StaffRole: models.StaffSupport}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	c := app.Login(u.Email)
	for _, p := range []string{"/support/workspaces", "/workspaces", "/account"} {
		res := c.Get(p)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account/two-factor" {
			t.Fatalf("support without 2FA on %s: %d %q", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	secret, _ := enrol(t, app, c, clock)
	if res := c.Get("/support/workspaces"); res.StatusCode != http.StatusOK {
		t.Fatalf("support with 2FA: %d", res.StatusCode)
	}
	clock.add(30 * time.Second)
	res := c.Post("/account/two-factor/disable", url.Values{"password": {webtest.Password}, "code": {code(t, secret, clock.now())}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("support turning 2FA off: %d", res.StatusCode)
	}
}

// TestAccountDeletionAsksForTheSecondFactor: with two-factor on, deleting the account needs a
// current code as well as the password; without one, or with a wrong one, nothing is deleted.
func TestAccountDeletionAsksForTheSecondFactor(t *testing.T) {
	app := webtest.Start(t)
	clock := startClock(t, app)
	u := app.User(webtest.UniqueEmail("del-2fa"))
	c := app.Login(u.Email)
	secret, _ := enrol(t, app, c, clock)
	clock.add(30 * time.Second)
	if res := c.Get("/account"); res.Doc().Find(`#f-code`).Length() != 1 {
		t.Fatal("the deletion form does not ask for a code")
	}
	for _, bad := range []string{"", "000000"} {
		res := c.Follow(c.Post("/account/delete", url.Values{"password": {webtest.Password}, "confirm": {"yes"}, "code": {bad}}))
		if !res.Has("error-code") {
			t.Fatalf("code %q: %d", bad, res.StatusCode)
		}
		if _, err := models.UserByEmail(context.Background(), app.DB.App, u.Email); err != nil {
			t.Fatalf("deleted with code %q: %v", bad, err)
		}
	}
	res := c.Post("/account/delete", url.Values{"password": {webtest.Password}, "confirm": {"yes"}, "code": {code(t, secret, clock.now())}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("with a current code: %d", res.StatusCode)
	}
	if _, err := models.UserByEmail(context.Background(), app.DB.App, u.Email); err == nil {
		t.Fatal("the account survived a right code")
	}
}
