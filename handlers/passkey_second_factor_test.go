package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// secondFactorOptions starts the passkey ceremony of c's pending log-in.
func secondFactorOptions(t *testing.T, c *webtest.Client) []byte {
	t.Helper()
	status, opts := postJSON(t, c, "/login/two-factor/passkey/begin", nil)
	if status != http.StatusOK {
		t.Fatalf("second-factor options: %d %s", status, opts)
	}
	return opts
}

// signedIn reports whether c opens a signed-in page.
func signedIn(c *webtest.Client) bool {
	return c.Get("/account").StatusCode == http.StatusOK
}

// secondUserFailures counts the failed second steps recorded against the user.
func secondUserFailures(t *testing.T, app *webtest.App, email string) int {
	t.Helper()
	var n int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM login_failures WHERE scope = 'second_user' AND key = ?",
		userID(t, app, email).String()).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPasskeyAsSecondFactor: a person whose only second factor is a passkey is asked for it after
// the password (the page offers the passkey and no code form), and is in once it answers; the
// same answer is refused a second time, another person's passkey is refused, refusals count
// against the second step's throttle, and a locked person cannot start a ceremony.
func TestPasskeyAsSecondFactor(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	alice := webtest.UniqueEmail("pk2-alice")
	bob := webtest.UniqueEmail("pk2-bob")
	ka, kb := newSoftKey(t, app), newSoftKey(t, app)
	if status, body := register(t, app.Login(alice), ka, "Alice's key"); status != http.StatusOK {
		t.Fatalf("register alice: %d %s", status, body)
	}
	if status, body := register(t, app.Login(bob), kb, "Bob's key"); status != http.StatusOK {
		t.Fatalf("register bob: %d %s", status, body)
	}

	// The password alone no longer signs in: the second step offers the passkey, not a code.
	c := passwordStep(t, app, alice)
	if signedIn(c) {
		t.Fatal("the password alone signed in a person with a passkey")
	}
	page := c.Get("/login/two-factor")
	if page.StatusCode != http.StatusOK || !page.Has("second-factor-passkey-use") || page.Has("code-form") || page.Has("recovery-code-form") {
		t.Fatalf("second step page: %d, passkey %v, code form %v, recovery form %v", page.StatusCode,
			page.Has("second-factor-passkey-use"), page.Has("code-form"), page.Has("recovery-code-form"))
	}

	// The options name Alice's passkey and only it.
	opts := secondFactorOptions(t, c)
	var parsed struct {
		PublicKey struct {
			AllowCredentials []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
			UserVerification string `json:"userVerification"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &parsed); err != nil {
		t.Fatal(err)
	}
	if a := parsed.PublicKey.AllowCredentials; len(a) != 1 || a[0].ID != b64.EncodeToString(ka.id) || parsed.PublicKey.UserVerification != "required" {
		t.Fatalf("options allow %+v (user verification %q), want alice's one passkey, verified", a, parsed.PublicKey.UserVerification)
	}
	answer := ka.get(t, opts)
	status, body := postJSON(t, c, "/login/two-factor/passkey/finish", map[string]any{"credential": answer})
	if status != http.StatusOK || !strings.Contains(string(body), `"redirect":"/"`) {
		t.Fatalf("passkey as second factor: %d %s", status, body)
	}
	if !signedIn(c) {
		t.Fatal("not signed in after the passkey")
	}

	// Replay: the same answer for a new pending log-in (a new challenge) is refused, and counted.
	c2 := passwordStep(t, app, alice)
	secondFactorOptions(t, c2)
	if status, body := postJSON(t, c2, "/login/two-factor/passkey/finish", map[string]any{"credential": answer}); status != http.StatusBadRequest {
		t.Fatalf("replayed answer: %d %s, want 400", status, body)
	}
	if signedIn(c2) {
		t.Fatal("a replayed answer signed in")
	}
	if n := secondUserFailures(t, app, alice); n != 1 {
		t.Fatalf("%d failures recorded after the replay, want 1", n)
	}
	// The ceremony is used up by the refused answer: even the right passkey needs a new one.
	if status, _ := postJSON(t, c2, "/login/two-factor/passkey/finish", map[string]any{"credential": ka.get(t, opts)}); status != http.StatusBadRequest {
		t.Fatalf("answer without a ceremony: %d, want 400", status)
	}

	// Another person's passkey, answering Alice's challenge, is refused.
	c3 := passwordStep(t, app, alice)
	opts3 := secondFactorOptions(t, c3)
	kb.user = ka.user // even claiming Alice's user handle
	if status, body := postJSON(t, c3, "/login/two-factor/passkey/finish", map[string]any{"credential": kb.get(t, opts3)}); status != http.StatusBadRequest {
		t.Fatalf("bob's passkey for alice: %d %s, want 400", status, body)
	}
	if signedIn(c3) {
		t.Fatal("another person's passkey signed in")
	}

	// Without a pending log-in there is nothing to answer.
	anon := app.Client()
	anon.Get("/login")
	if status, _ := postJSON(t, anon, "/login/two-factor/passkey/begin", nil); status != http.StatusBadRequest {
		t.Fatalf("options without a password first: %d, want 400", status)
	}

	// Throttle: refusals up to the limit, then even the ceremony's start is refused with 429.
	c4 := passwordStep(t, app, alice)
	for secondUserFailures(t, app, alice) < models.SecondFactorUserMax {
		secondFactorOptions(t, c4)
		postJSON(t, c4, "/login/two-factor/passkey/finish", map[string]any{"credential": answer})
	}
	if status, body := postJSON(t, c4, "/login/two-factor/passkey/begin", nil); status != http.StatusTooManyRequests || !strings.Contains(string(body), "Try again in") {
		t.Fatalf("options when locked: %d %s, want 429", status, body)
	}

	// Bob, who has a passkey and an authenticator app, is offered both.
	bu, err := models.UserByEmail(context.Background(), app.DB.App, bob)
	if err != nil {
		t.Fatal(err)
	}
	app.EnableTwoFactor(bu)
	cb := passwordStep(t, app, bob)
	page = cb.Get("/login/two-factor")
	if !page.Has("second-factor-passkey-use") || !page.Has("code-form") {
		t.Fatalf("both factors: passkey %v, code form %v", page.Has("second-factor-passkey-use"), page.Has("code-form"))
	}
}

// TestPasskeyOnlyWherePasskeysAreOff: where passkeys are off (an IP address) a
// passkey cannot be checked, so a person whose only second factor is a passkey logs in with the
// password; the second step is asked only for an authenticator app.
func TestPasskeyOnlyWherePasskeysAreOff(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("pk-off")
	u := app.User(email)
	if _, err := app.DB.Owner.NewRaw(`INSERT INTO passkeys (id, user_id, credential_id, name, credential, sign_count, created_at)
		VALUES (?, ?, ?, 'Elsewhere', '{}', 0, ?)`, models.NewID(), u.ID, []byte("cred-"+email), testdb.Clock()).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := app.Client()
	c.Get("/login")
	res := c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") == "/login/two-factor" {
		t.Fatalf("password log-in with passkeys off: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestWorkspaceRequiringTwoFactorAdmitsPasskeyOnlyMember: a passkey is a second factor for a
// workspace that requires one, for the members page's badge, and for support staff.
func TestWorkspaceRequiringTwoFactorAdmitsPasskeyOnlyMember(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	owner := app.User(webtest.UniqueEmail("pkreq-owner"))
	member := app.User(webtest.UniqueEmail("pkreq-member"))
	ws := app.Workspace(owner, webtest.UniqueSlug("pkreq"))
	app.AddMember(ws, member, models.RoleMember)

	// The owner's only second factor is a passkey: enough to require two-factor.
	oc := app.Login(owner.Email)
	if status, body := register(t, oc, newSoftKey(t, app), "Owner's key"); status != http.StatusOK {
		t.Fatalf("register owner: %d %s", status, body)
	}
	oc.Get("/w/" + ws.Slug + "/settings")
	if res := oc.Post("/w/"+ws.Slug+"/settings/two-factor", url.Values{"require_two_factor": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("require with a passkey as the owner's second factor: %d %s", res.StatusCode, res.TestID("error-require_two_factor"))
	}

	mc := app.Login(member.Email)
	usage := "/w/" + ws.Slug + "/usage"
	if res := mc.Get(usage); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/account/two-factor?next=") {
		t.Fatalf("member without a second factor: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The two-factor page offers a passkey too, and adding one is open to the member.
	if res := mc.Get("/account/two-factor"); !res.Has("passkey-add") {
		t.Fatal("the two-factor page does not offer a passkey")
	}
	if status, body := register(t, mc, newSoftKey(t, app), "Member's key"); status != http.StatusOK {
		t.Fatalf("register member: %d %s", status, body)
	}
	if res := mc.Get(usage); res.StatusCode != http.StatusOK {
		t.Fatalf("passkey-only member: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	members := oc.Get("/w/" + ws.Slug + "/members")
	if members.Doc().Find(`[data-testid="member-row"][data-email="`+member.Email+`"] [data-testid="member-2fa-on"]`).Length() != 1 {
		t.Fatal("the members page does not show the passkey-only member's second factor")
	}
	if res := mc.Get("/account"); !strings.Contains(res.TestID("account-2fa"), "passkeys") || res.Doc().Find(`form[action="/account/delete"] input[name="code"]`).Length() != 0 {
		t.Fatalf("account page of a passkey-only person: %q", res.TestID("account-2fa"))
	}

	// Support staff: a passkey is their second factor too.
	sup, err := models.CreateUser(context.Background(), app.DB.App, models.NewUser{Email: webtest.UniqueEmail("pk-sup"), Password: webtest.Password,
		StaffRole: models.StaffSupport}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	sc := app.Login(sup.Email)
	if res := sc.Get("/support/workspaces"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("support without a second factor: %d", res.StatusCode)
	}
	if res := sc.Get("/account/two-factor"); !res.Has("passkey-add") {
		t.Fatal("support's two-factor page does not offer a passkey")
	}
	if status, body := register(t, sc, newSoftKey(t, app), "Support key"); status != http.StatusOK {
		t.Fatalf("register support: %d %s", status, body)
	}
	if res := sc.Get("/support/workspaces"); res.StatusCode != http.StatusOK {
		t.Fatalf("support with a passkey: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestStepUpWithAPasskey: the step-up form offers a passkey to a person who has one; its ceremony
// confirms the session, after which the action goes through; a refused answer confirms nothing.
func TestStepUpWithAPasskey(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	clock := startClock(t, app)
	owner := app.User(webtest.UniqueEmail("pk-stepup"))
	ws := app.Workspace(owner, webtest.UniqueSlug("pkstep"))
	c := app.Login(owner.Email)
	k := newSoftKey(t, app)
	if status, body := register(t, c, k, "Key"); status != http.StatusOK {
		t.Fatalf("register: %d %s", status, body)
	}
	keys := "/w/" + ws.Slug + "/keys"
	c.Get(keys)
	clock.add(11 * time.Minute)
	form := url.Values{"name": {"pk-rw"}, "scope": {"read_write"}, "expires_in_days": {"0"}}
	res := c.Back(c.Post(keys, form), "/account/step-up")
	if !res.Has("step-up") || !res.Has("step-up-passkey") {
		t.Fatalf("step-up: %v, passkey offered %v", res.Has("step-up"), res.Has("step-up-passkey"))
	}
	// Another authenticator's answer confirms nothing.
	_, opts := postJSON(t, c, "/account/step-up/passkey/begin", nil)
	if status, _ := postJSON(t, c, "/account/step-up/passkey/finish", map[string]any{"credential": newSoftKey(t, app).get(t, opts)}); status != http.StatusBadRequest {
		t.Fatalf("a stranger's passkey for step-up: %d, want 400", status)
	}
	if res := c.Follow(c.Post(keys, form)); !res.Has("step-up") || countKeys(t, app, ws, "pk-rw") != 0 {
		t.Fatal("a refused passkey let the action through")
	}
	status, opts := postJSON(t, c, "/account/step-up/passkey/begin", nil)
	if status != http.StatusOK {
		t.Fatalf("step-up options: %d %s", status, opts)
	}
	if status, body := postJSON(t, c, "/account/step-up/passkey/finish", map[string]any{"credential": k.get(t, opts)}); status != http.StatusOK {
		t.Fatalf("step-up with the passkey: %d %s", status, body)
	}
	form.Set("step_up", "1") // as the script posts the form again
	if res := c.Post(keys, form); res.StatusCode != http.StatusSeeOther || countKeys(t, app, ws, "pk-rw") != 1 {
		t.Fatalf("after the passkey: %d, key made %d", res.StatusCode, countKeys(t, app, ws, "pk-rw"))
	}
}
