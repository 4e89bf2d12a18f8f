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

// TestCreateCopyUseAndRevokeAKey: a member creates a key in the page's dialog (htmx swaps the
// panel in place), copies it with the button, a program uses it, the key is never shown again, a
// 422 keeps the form in the dialog, rolling it in its dialog shows a new secret while the old one
// keeps working, Escape closes a dialog and gives focus back, and revoking it (confirmed in the
// page's dialog, no native confirm) stops both at once.
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
	// Any native dialog fails the test: confirmations are the page's own.
	eval[bool](t, tab, `window.__atriumMarker = "still here"; window.confirm = function(){ window.__nativeConfirm = true; return true }; true`)
	if eval[bool](t, tab, `!!document.querySelector("#new-key-form")`) {
		t.Fatal("the create form is open above the list before anyone asked for it")
	}

	step(t, tab, "open the create dialog", click(tid("new-key-open")))
	dialogOnTop(t, tab, "create dialog")
	step(t, tab, "submit without a name",
		click(`#page-dialog `+tid("create-key")),
		chromedp.WaitVisible(chromedp.CSS(`#page-dialog `+tid("error-name"))),
	)
	dialogOnTop(t, tab, "create dialog with its errors")
	step(t, tab, "create a read/write key",
		chromedp.SendKeys(chromedp.CSS(`#page-dialog #f-name`), "nightly import"),
		click(`#page-dialog `+tid("scope-read_write")),
		chromedp.SetValue(chromedp.CSS(`#page-dialog #f-expires_in_days`), "30"),
		click(`#page-dialog `+tid("create-key")),
		chromedp.WaitVisible(chromedp.CSS(tid("new-key-value"))),
	)
	waitFor(t, tab, "the create dialog closes", `!document.getElementById("page-dialog").open`)
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

	eval[bool](t, tab, `window.confirm = function(){ window.__nativeConfirm = true; return true }; true`)
	step(t, tab, "open the roll dialog", click(tid("roll-open")))
	dialogOnTop(t, tab, "roll dialog")
	step(t, tab, "roll it with a day's grace",
		chromedp.SetValue(chromedp.CSS(`#page-dialog select[name="grace_hours"]`), "24"),
		click(`#page-dialog `+tid("roll-key")),
		chromedp.WaitVisible(chromedp.CSS(tid("new-key-value"))),
		chromedp.WaitVisible(chromedp.CSS(tid("key-grace"))),
	)
	waitFor(t, tab, "the roll dialog closes", `!document.getElementById("page-dialog").open`)
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
	id := eval[string](t, tab, `document.querySelector('[data-testid="revoke-key"]').id`)
	if id == "" {
		t.Fatal("the revoke link has no id")
	}
	step(t, tab, "open the revoke dialog", click(tid("revoke-key")))
	dialogOnTop(t, tab, "revoke dialog")
	escapeCloses(t, tab, "#"+id)
	if got := eval[string](t, tab, `document.querySelector('[data-testid="key-status"]').dataset.status`); got != "active" {
		t.Fatalf("closing the dialog changed the key: %s", got)
	}
	step(t, tab, "revoke it",
		click(tid("revoke-key")),
	)
	dialogOnTop(t, tab, "revoke dialog again")
	step(t, tab, "confirm in the dialog",
		click(`#page-dialog `+tid("confirm-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("flash"))),
		chromedp.WaitNotPresent(chromedp.CSS(tid("key-row"))),
	)
	if eval[bool](t, tab, `!!window.__nativeConfirm`) {
		t.Error("a native confirm() was shown")
	}
	if got := text(t, tab, tid("flash")); !strings.Contains(got, "revoked") {
		t.Fatalf("flash after revoking: %q", got)
	}
	// Revoked keys are listed apart.
	step(t, tab, "open the revoked keys",
		click(tid("key-tab-revoked")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-status"][data-status="revoked"]`)),
	)
	shot(t, tab, "keys-revoked")
	for _, k := range []string{token, rolled} {
		if got := apiStatus(t, app, k); got != 401 {
			t.Fatalf("the revoked key gets %d from the API", got)
		}
	}
}
