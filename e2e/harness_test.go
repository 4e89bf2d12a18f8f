// Package e2e drives the real console in headless Chromium (Debian's /usr/bin/chromium) through
// chromedp. Without Chromium the tests skip, unless REQUIRE_BROWSER=1 (CI) makes that a failure.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// chromiumPath finds the browser.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns the context of its first
// tab; more tabs come from chromedp.NewContext(ctx).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("REQUIRE_BROWSER") == "1" {
			t.Fatal("REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)")
		}
		t.Skip("no Chromium on this machine; install Debian's chromium to run browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// step runs actions with a time limit, failing the test with what was being done.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		shot(t, ctx, "failed-"+filepath.Base(t.Name()))
		t.Fatalf("%s: %v", what, err)
	}
}

// text returns the trimmed text of the first element matching sel ("" when none does).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.textContent.trim():""})()`, sel)
	return eval[string](t, ctx, js)
}

// eval evaluates JavaScript in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// location returns the tab's current URL path.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, "location.pathname")
}

// shot saves a full-page screenshot under e2e/output/ for a person to look at.
func shot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	dir := "output"
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
	return p
}

// tid is the CSS selector of a data-testid.
func tid(id string) string { return fmt.Sprintf(`[data-testid="%s"]`, id) }

// login logs the tab in through the real form.
func login(t *testing.T, ctx context.Context, app *webtest.App, email string) {
	t.Helper()
	step(t, ctx, "log in as "+email,
		chromedp.Navigate(app.HTTP.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
}

// ownerInBrowser makes a user (an address made from prefix) and logs them in in a new browser tab,
// the start of the tests that then work, at each width, in a workspace of that owner's.
func ownerInBrowser(t *testing.T, app *webtest.App, prefix string) (*models.User, context.Context) {
	t.Helper()
	email := webtest.UniqueEmail(prefix)
	owner := app.User(email)
	tab := browser(t)
	login(t, tab, app, email)
	return owner, tab
}

// loginTwoFactor logs the tab in through the real forms: the password, then the authenticator's
// code of secret for the next 30-second step (the current one may have been spent on enrolment).
func loginTwoFactor(t *testing.T, ctx context.Context, app *webtest.App, email, secret string) {
	t.Helper()
	step(t, ctx, "password of "+email,
		chromedp.Navigate(app.HTTP.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("code-form"))),
	)
	code, err := totp.GenerateCode(secret, app.Server.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "second factor of "+email,
		chromedp.SendKeys(chromedp.CSS(`#f-code`), code),
		click(tid("code-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
}

// newTab opens another tab of the same browser (sharing its cookies). Its first action runs
// without a deadline: a deadline on a tab's first action would close the tab when it passes.
func newTab(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// waitFor polls a JavaScript condition until it holds (for a page that is still loading after a
// click, where an element of the old page could otherwise answer too early).
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(cctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	shot(t, ctx, "failed-"+filepath.Base(t.Name()))
	t.Fatalf("waiting for %s: %s never held", what, js)
}

// click clicks the element sel as a person would: only once it is visible, inside the viewport
// (after scrolling the page to it) and on top there, that is, the element elementFromPoint finds
// at its centre is it or inside it. A clipped, covered or zero-sized element fails the step with
// what is in the way, where chromedp.Click alone would click it through whatever covers it.
func click(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.WaitVisible(chromedp.CSS(sel))(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		js := fmt.Sprintf(`(function(){
  var e = document.querySelector(%q);
  if (!e) return "is missing";
  // The first box of its text: a link wrapped over two lines has a gap at its bounding box's centre.
  var box = function () { return e.getClientRects()[0] || e.getBoundingClientRect(); };
  var r = box();
  // Scroll the page only, as a person would; a box that clips the element stays as it is.
  window.scrollBy(r.left + r.width / 2 - innerWidth / 2, r.top + r.height / 2 - innerHeight / 2);
  r = box();
  if (r.width === 0 || r.height === 0) return "has no size";
  var x = r.left + r.width / 2, y = r.top + r.height / 2;
  if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return "is outside the viewport";
  var h = document.elementFromPoint(x, y);
  if (!h) return "has nothing at its centre";
  if (h === e || e.contains(h)) return "";
  return "is covered at its centre by <" + h.tagName.toLowerCase() + (h.id ? "#" + h.id : "") +
    (h.getAttribute("data-testid") ? " data-testid=" + h.getAttribute("data-testid") : "") + ">";
})()`, sel)
		why, err := chromedp.Evaluate[string](js)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		if why != "" {
			return chromedp.Void{}, fmt.Errorf("%s %s: a person could not click it", sel, why)
		}
		return chromedp.Click(chromedp.CSS(sel))(ctx, tg)
	}
}
