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

	"atrium/handlers/webtest"
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
		chromedp.Click(chromedp.CSS(tid("login-submit"))),
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
