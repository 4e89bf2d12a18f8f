package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestExportShowsProgressThenTheLink: at 1280×800 and 390×844 an owner starts an export on the
// settings page; the page shows it being built (a progress bar), and when the background job has
// built it the section turns into the download link by itself (htmx polling), without a reload.
// The link is visible and on top when clicked, and what it serves is the zip.
func TestExportShowsProgressThenTheLink(t *testing.T) {
	// No background worker here: the test builds the export itself, as the worker would, once it
	// has seen the page say the export is under way.
	app := webtest.Start(t)
	owner, tab := ownerInBrowser(t, app, "e2e-export")
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			ws := app.Workspace(owner, webtest.UniqueSlug("export"))
			step(t, tab, "open Settings", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/settings"), chromedp.WaitVisible(chromedp.CSS(tid("export-start"))))
			step(t, tab, "start the export", click(tid("export-start")))
			waitFor(t, tab, "the progress", `!!document.querySelector('[data-testid="export-progress"]')`)
			step(t, tab, "the progress is shown", chromedp.WaitVisible(chromedp.CSS(`[data-testid="export-progress"] [role="progressbar"]`)))
			if got := location(t, tab); got != "/w/"+ws.Slug+"/settings" {
				t.Fatalf("after the start the tab is at %s", got)
			}
			shot(t, tab, "export-building-"+size.name)

			var e *models.WorkspaceExport
			err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
				e, err = models.LatestExport(ctx, tn)
				return err
			})
			if err != nil || e == nil {
				t.Fatalf("the export: %v", err)
			}
			if err := models.BuildExport(context.Background(), app.DB.App, ws.ID, e.ID, app.Server.Now); err != nil {
				t.Fatal(err)
			}
			// The page finds out by itself (polling every two seconds).
			deadline := time.Now().Add(15 * time.Second)
			for !eval[bool](t, tab, `!!document.querySelector('[data-testid="export-download"]')`) {
				if time.Now().After(deadline) {
					shot(t, tab, "failed-export-"+size.name)
					t.Fatal("the link did not appear without a reload")
				}
				time.Sleep(200 * time.Millisecond)
			}
			if eval[bool](t, tab, `!!document.querySelector('[data-testid="export-progress"]')`) {
				t.Fatal("the progress is still shown next to the link")
			}
			shot(t, tab, "export-ready-"+size.name)
			step(t, tab, "click the download link", click(tid("export-download")))
			cctx, cancel := context.WithTimeout(tab, 20*time.Second)
			defer cancel()
			got, err := chromedp.Run(cctx, chromedp.Evaluate[string](`(async () => {
				const a = document.querySelector('[data-testid="export-download"]');
				const r = await fetch(a.href);
				const b = new Uint8Array(await r.arrayBuffer());
				return r.status + " " + r.headers.get("content-type") + " " + String.fromCharCode(b[0], b[1]);
			})()`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			if got != "200 application/zip PK" {
				t.Fatalf("the link serves %q", got)
			}
		})
	}
}
