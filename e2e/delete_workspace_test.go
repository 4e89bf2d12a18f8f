package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
)

// TestDeleteWorkspaceInTheDialog: at 1280×800 and at 390×844, deleting a workspace checks the
// typed address first (a wrong one is shown at its field and opens nothing), then asks in the
// page's own dialog (no native confirm()): Escape closes it with the focus back on the button,
// and confirming there deletes the workspace and lands on the workspace list, which offers to
// restore it; restoring opens it again, and the list no longer shows it as deleted.
func TestDeleteWorkspaceInTheDialog(t *testing.T) {
	app := webtest.Start(t)
	owner, tab := ownerInBrowser(t, app, "e2e-del")
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			ws := app.Workspace(owner, webtest.UniqueSlug("del"))
			field := `[data-testid="delete-form"] #f-confirm`
			step(t, tab, "open Settings", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/settings"), chromedp.WaitVisible(chromedp.CSS(tid("delete-form"))))
			eval[bool](t, tab, `window.__nativeConfirm = false; window.confirm = function(){ window.__nativeConfirm = true; return true }; true`)
			step(t, tab, "type a wrong address and ask", chromedp.SendKeys(chromedp.CSS(field), "not-it"), click(tid("delete-submit")))
			if eval[bool](t, tab, `document.getElementById("page-dialog").open`) {
				t.Fatal("a wrong address opened the dialog")
			}
			if msg := eval[string](t, tab, `document.querySelector(`+"`"+field+"`"+`).validationMessage`); msg != "Type "+ws.Slug+" to confirm." {
				t.Fatalf("the field says %q", msg)
			}
			eval[bool](t, tab, `document.querySelector(`+"`"+field+"`"+`).value = ""; true`)
			step(t, tab, "type the address and ask", chromedp.SendKeys(chromedp.CSS(field), ws.Slug), click(tid("delete-submit")))
			dialogOnTop(t, tab, "the delete dialog")
			if got := eval[string](t, tab, `document.querySelector('#page-dialog input[name="confirm"]').value`); got != ws.Slug {
				t.Fatalf("the dialog's address is %q", got)
			}
			escapeCloses(t, tab, "#delete-open")
			step(t, tab, "ask again", click(tid("delete-submit")))
			dialogOnTop(t, tab, "the delete dialog again")
			shot(t, tab, "delete-dialog-"+size.name)
			step(t, tab, "delete", click(`#page-dialog `+tid("confirm-submit")))
			waitFor(t, tab, "the workspace list", `location.pathname === "/workspaces"`)
			if eval[bool](t, tab, `!!window.__nativeConfirm`) {
				t.Error("the browser's own confirm() was used")
			}
			var n int
			if err := app.DB.Owner.NewRaw("SELECT count(*) FROM workspaces WHERE id = ? AND deleted_at IS NOT NULL", ws.ID).Scan(context.Background(), &n); err != nil || n != 1 {
				t.Fatalf("the workspace is not scheduled for deletion: %d %v", n, err)
			}
			row := `[data-testid="deleted-row"][data-slug="` + ws.Slug + `"]`
			if eval[bool](t, tab, `!!document.querySelector('[data-testid="workspace-row"][data-slug="`+ws.Slug+`"]')`) {
				t.Fatal("the deleted workspace is still among the workspaces to open")
			}
			shot(t, tab, "deleted-list-"+size.name)
			step(t, tab, "restore", click(row+" "+tid("restore-submit")))
			waitFor(t, tab, "the restored workspace", `location.pathname === "/w/`+ws.Slug+`" && !!document.querySelector('[data-testid="workspace-name"]')`)
			if got := text(t, tab, tid("workspace-name")); got != ws.Name {
				t.Fatalf("the restored workspace shows %q", got)
			}
			step(t, tab, "back to the list", chromedp.Navigate(app.HTTP.URL+"/workspaces"), chromedp.WaitVisible(chromedp.CSS(tid("workspace-list"))))
			if eval[bool](t, tab, `!!document.querySelector('`+row+`')`) {
				t.Fatal("the restored workspace is still listed as deleted")
			}
		})
	}
}
