package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// TestWebhookEndpointInTheBrowser: at 1280×800 and 390×844 an owner adds an endpoint, sees its
// secret once (not after a reload), and, once an event was delivered, redelivers it: the receiver
// gets the same webhook-id again.
func TestWebhookEndpointInTheBrowser(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.URL.Path+" "+r.Header.Get("webhook-id"))
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	// received lists the webhook-ids that reached path.
	received := func(path string) []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, s := range ids {
			if p, id, _ := strings.Cut(s, " "); p == path {
				out = append(out, id)
			}
		}
		return out
	}

	app := webtest.StartWith(t, handlers.Config{DeliverMail: true, MailPollInterval: 50 * time.Millisecond, WebhooksAllowPrivate: true})
	email := webtest.UniqueEmail("e2e-hooks")
	owner := app.User(email)
	ws := app.Workspace(owner, webtest.UniqueSlug("hooks"))
	app.SetTier(ws, models.TierPro)
	tab := browser(t)
	login(t, tab, app, email)
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			path := "/" + size.name
			before := len(received(path))
			step(t, tab, "open Webhooks", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/settings/webhooks"), chromedp.WaitVisible(chromedp.CSS(`#f-url`)))
			step(t, tab, "fill the form", chromedp.SendKeys(chromedp.CSS(`#f-url`), rcv.URL+"/"+size.name),
				click(tid("type-invitation.created")), click(tid("webhook-create")))
			waitFor(t, tab, "the secret", `!!document.querySelector('[data-testid="webhook-secret"]')`)
			secret := eval[string](t, tab, `document.querySelector('[data-testid="webhook-secret"]').textContent`)
			if !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("secret %q", secret)
			}
			step(t, tab, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("webhook-url"))))
			if eval[bool](t, tab, `!!document.querySelector('[data-testid="webhook-secret"]')`) {
				t.Fatal("the secret is shown again after a reload")
			}
			// An invitation emits invitation.created, which the worker delivers.
			c := app.Login(email)
			c.Post("/w/"+ws.Slug+"/invitations", map[string][]string{"email": {webtest.UniqueEmail("e2e-guest")}, "role": {"member"}})
			deadline := time.Now().Add(15 * time.Second)
			for len(received(path)) <= before && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			got := received(path)
			if len(got) != before+1 {
				t.Fatalf("receiver got %v", got)
			}
			step(t, tab, "see the delivery", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("redeliver"))))
			step(t, tab, "redeliver", click(tid("redeliver")))
			for len(received(path)) <= before+1 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			got = received(path)
			if len(got) != before+2 || got[before+1] != got[before] {
				t.Fatalf("after redelivery the receiver has %v; want the same id again", got[before:])
			}
		})
	}
}
