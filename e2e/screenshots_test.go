package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models/seed"
	"atrium/models/testdb"
)

// TestREADMEScreenshots photographs the demo workspace as its owner sees it: the usage page on a
// desktop (1280×800, light) and the members page on a phone (390×844, dark). They go to output/readme/, or to
// the directory in ATRIUM_SCREENSHOTS (`make screenshots` points it at docs/ for the README).
func TestREADMEScreenshots(t *testing.T) {
	app := webtest.Start(t)
	if _, err := seed.Demo(context.Background(), app.DB.App, testdb.Now(t)); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("ATRIUM_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("output", "readme")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tab := browser(t)
	step(t, tab, "log in", chromedp.Navigate(app.HTTP.URL+"/login"), chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), seed.DemoOwnerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), seed.DemoPassword),
		click(tid("login-submit")), chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))))
	for _, s := range []struct {
		file, path, top string // top: the element scrolled near the top of the picture
		w, h            int64
		scheme          string // the system's colour scheme
	}{
		{"console-desktop.png", "/w/" + seed.DemoSlug + "/usage", "", 1280, 800, "light"},
		{"console-phone.png", "/w/" + seed.DemoSlug + "/members", "main table", 390, 844, "dark"},
	} {
		step(t, tab, "open "+s.path, chromedp.EmulateViewport(s.w, s.h), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s.scheme}}})
			return err
		}), chromedp.Navigate(app.HTTP.URL+s.path),
			chromedp.WaitVisible(chromedp.CSS("main")))
		if s.top != "" {
			eval[bool](t, tab, fmt.Sprintf(`(function(){var e=document.querySelector(%q);if(!e)return false;window.scrollTo(0,e.getBoundingClientRect().top+scrollY-112);return true})()`, s.top))
		}
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			t.Fatalf("screenshot of %s: %v", s.path, err)
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatalf("screenshot of %s is no PNG: %v", s.path, err)
		}
		if b := img.Bounds(); int64(b.Dx()) != s.w || int64(b.Dy()) != s.h {
			t.Errorf("screenshot of %s is %dx%d, want %dx%d", s.path, b.Dx(), b.Dy(), s.w, s.h)
		}
		if err := os.WriteFile(filepath.Join(dir, s.file), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
