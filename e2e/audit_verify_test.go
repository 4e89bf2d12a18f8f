package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// TestAuditVerifyOnThePage: at desktop and phone widths, an owner sees the chain head on the audit
// page and verifies the chain with the Verify button (visible and on top, clicked as a person
// would): it holds; after an event is altered in the database, the same button names that event.
func TestAuditVerifyOnThePage(t *testing.T) {
	app := webtest.Start(t)
	owner, tab := ownerInBrowser(t, app, "e2e-audit")
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			ws := app.Workspace(owner, webtest.UniqueSlug("audit"))
			for range 3 {
				err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
					return models.Record(ctx, tn, models.Event{ActorUserID: owner.ID, Action: "test.e2e", At: testdb.Now(t)})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			step(t, tab, "open the audit log", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/audit"), chromedp.WaitVisible(chromedp.CSS(tid("audit-chain"))))
			if got := text(t, tab, tid("audit-head-seq")); got != "event #4" {
				t.Fatalf("the head shows %q", got)
			}
			if h := text(t, tab, tid("audit-head-hash")); len(h) != 64 {
				t.Fatalf("the head hash shows %q", h)
			}
			// The hash wraps inside the page instead of widening it.
			if eval[bool](t, tab, `document.documentElement.scrollWidth > innerWidth`) {
				t.Error("the page scrolls sideways")
			}
			step(t, tab, "verify", click(tid("audit-verify")), chromedp.WaitVisible(chromedp.CSS(tid("audit-verify-result"))))
			if ok := eval[string](t, tab, `document.querySelector('[data-testid="audit-verify-result"]').dataset.ok`); ok != "true" {
				t.Fatalf("intact chain reported %q: %s", ok, text(t, tab, tid("audit-verify-result")))
			}
			if got := text(t, tab, tid("audit-verify-result")); !strings.Contains(got, "4 events") {
				t.Errorf("result: %q", got)
			}
			shot(t, tab, "audit-verify-ok-"+size.name)

			var victim uuid.UUID
			if err := app.DB.Owner.NewRaw("SELECT id FROM audit_events WHERE workspace_id = ? AND seq = 3", ws.ID).Scan(context.Background(), &victim); err != nil {
				t.Fatal(err)
			}
			if _, err := app.DB.Owner.NewRaw("UPDATE audit_events SET action = 'test.forged' WHERE workspace_id = ? AND id = ?", ws.ID, victim).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			step(t, tab, "verify again", click(tid("audit-verify")), chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-verify-result"][data-ok="false"]`)))
			if got := text(t, tab, tid("audit-broken-id")); got != victim.String() {
				t.Fatalf("the broken event named is %q, want %s", got, victim)
			}
			if eval[bool](t, tab, `document.documentElement.scrollWidth > innerWidth`) {
				t.Error("the result makes the page scroll sideways")
			}
			shot(t, tab, "audit-verify-broken-"+size.name)
		})
	}
}
