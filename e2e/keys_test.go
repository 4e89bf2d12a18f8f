package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models"
)

// apiStatus calls the JSON API with a key, as a program would.
func apiStatus(t *testing.T, app *webtest.App, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", app.HTTP.URL+"/api/v1/workspace", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestCreateCopyUseAndRevokeAKey: a member creates a key in the page (htmx swaps the panel in
// place), copies it with the button, a program uses it, the key is never shown again, a 422 keeps
// the form in place, rolling it shows a new secret while the old one keeps working, and revoking
// it (after the confirm dialog) stops both at once.
func TestCreateCopyUseAndRevokeAKey(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("e2e-keys-owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("keys"))
	app.SetTier(ws, models.TierStarter)
	memberEmail := webtest.UniqueEmail("e2e-keys-member")
	app.AddMember(ws, app.User(memberEmail), models.RoleMember)
	keys := app.HTTP.URL + "/w/" + ws.Slug + "/keys"

	tab := browser(t)
	login(t, tab, app, memberEmail)
	step(t, tab, "open the keys page",
		chromedp.Navigate(keys),
		chromedp.WaitVisible(chromedp.CSS(tid("empty-keys"))),
	)
	eval[bool](t, tab, `window.__atriumMarker = "still here"; true`)

	step(t, tab, "submit without a name",
		click(tid("create-key")),
		chromedp.WaitVisible(chromedp.CSS(tid("error-name"))),
	)
	step(t, tab, "create a read/write key",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "nightly import"),
		click(tid("scope-read_write")),
		chromedp.SetValue(chromedp.CSS(`#f-expires_in_days`), "30"),
		click(tid("create-key")),
		chromedp.WaitVisible(chromedp.CSS(tid("new-key-value"))),
	)
	if got := eval[string](t, tab, `window.__atriumMarker || ""`); got != "still here" {
		t.Fatal("creating a key navigated instead of swapping the panel")
	}
	token := eval[string](t, tab, `document.querySelector('[data-testid="new-key-value"]').value`)
	if _, _, ok := models.ParseKey(token); !ok {
		t.Fatalf("the page shows %q, not a key", token)
	}
	// The copy button hands the key to the clipboard API (stubbed: headless Chromium has no
	// clipboard to read back).
	eval[bool](t, tab, `window.__copied = ""; navigator.clipboard.writeText = function(s){ window.__copied = s; return Promise.resolve() }; true`)
	step(t, tab, "copy the key", click(tid("copy-key")), chromedp.WaitVisible(chromedp.CSS(`[data-testid="copy-key"]`)))
	if got := eval[string](t, tab, `window.__copied`); got != token {
		t.Fatalf("the copy button copied %q", got)
	}
	if got := text(t, tab, tid("copy-key")); got != "Copied" {
		t.Fatalf("the copy button says %q afterwards", got)
	}
	shot(t, tab, "keys-created")
	if got := apiStatus(t, app, token); got != 200 {
		t.Fatalf("the new key gets %d from the API", got)
	}

	step(t, tab, "reload the page",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(tid("key-row"))),
	)
	html := eval[string](t, tab, `document.documentElement.outerHTML`)
	if strings.Contains(html, token[13:45]) || strings.Contains(html, `data-testid="new-key"`) {
		t.Fatal("the key is shown again after a reload")
	}
	if got := text(t, tab, tid("key-scope")); got != "Read and write" {
		t.Fatalf("scope shown as %q", got)
	}

	eval[bool](t, tab, `window.confirm = function(){ return true }; true`)
	step(t, tab, "roll it with a day's grace",
		click(tid("roll-open")),
		chromedp.WaitVisible(chromedp.CSS(tid("roll-key"))),
		chromedp.SetValue(chromedp.CSS(`[data-testid="key-row"] select[name="grace_hours"]`), "24"),
		click(tid("roll-key")),
		chromedp.WaitVisible(chromedp.CSS(tid("new-key-value"))),
		chromedp.WaitVisible(chromedp.CSS(tid("key-grace"))),
	)
	rolled := eval[string](t, tab, `document.querySelector('[data-testid="new-key-value"]').value`)
	if rolled == token || rolled[:12] != token[:12] {
		t.Fatalf("roll showed %q for %q", rolled, token)
	}
	shot(t, tab, "keys-rolled")
	for _, k := range []string{token, rolled} {
		if got := apiStatus(t, app, k); got != 200 {
			t.Fatalf("within the grace a key gets %d", got)
		}
	}
	step(t, tab, "revoke it",
		click(tid("revoke-key")),
		chromedp.WaitVisible(chromedp.CSS(tid("flash"))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-status"][data-status="revoked"]`)),
	)
	if got := text(t, tab, tid("flash")); !strings.Contains(got, "revoked") {
		t.Fatalf("flash after revoking: %q", got)
	}
	shot(t, tab, "keys-revoked")
	for _, k := range []string{token, rolled} {
		if got := apiStatus(t, app, k); got != 401 {
			t.Fatalf("the revoked key gets %d from the API", got)
		}
	}
}
