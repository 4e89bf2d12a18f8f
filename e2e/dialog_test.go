package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// dialogOnTop waits for the page's dialog to be open and checks what a person sees in it: it is
// modal (in the top layer), and each of its controls is inside the viewport and on top at its
// centre.
func dialogOnTop(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	waitFor(t, ctx, what+": the dialog opens", `(function(){var d=document.getElementById("page-dialog");return !!d && d.open && d.matches(":modal") && !!d.querySelector("[data-dialog-body] button, [data-dialog-body] input")})()`)
	why := eval[string](t, ctx, `(function(){
  var d = document.getElementById("page-dialog");
  var els = d.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]");
  for (var i = 0; i < els.length; i++) {
    var e = els[i], r = e.getBoundingClientRect();
    // Not rendered for a person (inside a closed <details>, say): nothing to see or click.
    if (r.width === 0 || r.height === 0 || !e.checkVisibility()) continue;
    var x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) return e.outerHTML.slice(0, 120) + " is outside the viewport";
    var h = document.elementFromPoint(x, y);
    if (!h || !(h === e || e.contains(h) || h.contains(e) && h.tagName === "LABEL")) return e.outerHTML.slice(0, 120) + " is covered by " + (h ? h.outerHTML.slice(0, 80) : "nothing");
  }
  if (!d.contains(document.activeElement)) return "focus is not in the dialog";
  return "";
})()`)
	if why != "" {
		shot(t, ctx, "failed-dialog")
		t.Fatalf("%s: %s", what, why)
	}
}

// escapeCloses presses Escape in the open dialog and checks it closes and gives focus back to
// the opener, the element the CSS selector opener names.
func escapeCloses(t *testing.T, ctx context.Context, opener string) {
	t.Helper()
	step(t, ctx, "press Escape", chromedp.KeyEvent(kb.Escape))
	waitFor(t, ctx, "the dialog closes on Escape", `!document.getElementById("page-dialog").open`)
	focusReturns(t, ctx, "after Escape", opener)
}

// focusReturns waits for the focus to come back to the element the CSS selector opener names
// once a dialog has closed (when the opener's row was re-rendered, to the new row's link): the
// dialog's close event, which restores it, is dispatched as a task after close(), so the check
// polls for a moment rather than reading the focus at once.
func focusReturns(t *testing.T, ctx context.Context, when, opener string) {
	t.Helper()
	on := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return !!e && e===document.activeElement})()`, opener)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if eval[bool](t, ctx, on) {
			return
		}
	}
	got := eval[string](t, ctx, `document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : ""`)
	t.Fatalf("%s the focus is on %s, want the opener %s", when, got, opener)
}
