package handlers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// hookReceiver records the deliveries it gets, verified with the secret it is given (the Standard
// Webhooks scheme, written out here).
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	ids    []string
	bodies []string
	bad    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(req.Header.Get("webhook-id") + "." + req.Header.Get("webhook-timestamp") + "." + string(body)))
		if req.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			r.bad++
		}
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		r.bodies = append(r.bodies, string(body))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) got() ([]string, []string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...), append([]string(nil), r.bodies...), r.bad
}

// TestWebhookEndpointThroughTheConsole: an admin adds an endpoint, sees its secret once, and a
// member's addition reaches the receiver signed with it; redelivering sends the same webhook-id
// again. Members are refused; another workspace's admin finds nothing.
func TestWebhookEndpointThroughTheConsole(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{DeliverMail: true, MailPollInterval: 50 * time.Millisecond,
		WebhooksAllowPrivate: true, WebhookRetryBase: 100 * time.Millisecond})
	owner := app.User(webtest.UniqueEmail("hook-owner"))
	admin := app.User(webtest.UniqueEmail("hook-admin"))
	member := app.User(webtest.UniqueEmail("hook-member"))
	ws := app.Workspace(owner, webtest.UniqueSlug("hooks"))
	app.SetTier(ws, models.TierPro)
	app.AddMember(ws, admin, models.RoleAdmin)
	app.AddMember(ws, member, models.RoleMember)
	rcv := newHookReceiver(t)
	base := "/w/" + ws.Slug + "/settings/webhooks"

	c := app.Login(admin.Email)
	if res := c.Get(base); res.StatusCode != http.StatusOK || !res.Has("webhooks-empty") {
		t.Fatalf("empty list: %d", res.StatusCode)
	}
	// A refused form comes back with what was typed and the message.
	back := c.Follow(c.Post(base, url.Values{"url": {"ftp://example.com/x"}, "description": {"kept"}}))
	if back.TestID("error-url") == "" || back.TestID("error-event_types") == "" ||
		back.Doc().Find(`input[name="description"]`).AttrOr("value", "") != "kept" {
		t.Fatalf("refused form: url %q, types %q", back.TestID("error-url"), back.TestID("error-event_types"))
	}
	res := c.Post(base, url.Values{"url": {rcv.URL + "/in"}, "description": {"CRM"}, "event_types": {"member.*", "invitation.accepted"}})
	page := c.Follow(res)
	secret := page.TestID("webhook-secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret shown: %q", secret)
	}
	hookPath := res.Header.Get("Location")
	if again := c.Get(hookPath); again.Has("webhook-secret") {
		t.Error("the secret is shown a second time")
	}
	rcv.mu.Lock()
	rcv.secret = secret
	rcv.mu.Unlock()

	// A change emits member.role_changed; the worker delivers it.
	oc := app.Login(owner.Email)
	role := oc.Post("/w/"+ws.Slug+"/members/"+member.ID.String()+"/role", url.Values{"role": {"viewer"}})
	if role.StatusCode >= 400 {
		t.Fatalf("role change: %d", role.StatusCode)
	}
	deadline := time.Now().Add(15 * time.Second)
	var ids, bodies []string
	var bad int
	for len(ids) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		ids, bodies, bad = rcv.got()
	}
	if len(ids) != 1 || bad != 0 || !strings.Contains(bodies[0], `"type":"member.role_changed"`) || !strings.Contains(bodies[0], member.Email) {
		t.Fatalf("received %v %v, %d bad signatures", ids, bodies, bad)
	}
	// The receiver answers before the worker records the answer: the row says so moments later.
	list := c.Get(hookPath)
	for list.TestID("delivery-status") == "pending" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		list = c.Get(hookPath)
	}
	if list.TestID("delivery-status") != "succeeded" || list.TestID("delivery-code") != "200" {
		t.Errorf("delivery row: %q %q", list.TestID("delivery-status"), list.TestID("delivery-code"))
	}
	// Redeliver: the same id again.
	rd := c.Post("/w/"+ws.Slug+"/settings/webhooks/deliveries/"+ids[0]+"/redeliver", nil)
	if rd.StatusCode != http.StatusSeeOther {
		t.Fatalf("redeliver: %d", rd.StatusCode)
	}
	for len(ids) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		ids, _, _ = rcv.got()
	}
	if len(ids) != 2 || ids[1] != ids[0] {
		t.Errorf("after redelivery the receiver has %v; want the same id twice", ids)
	}

	// A member may not manage webhooks; another workspace's admin finds nothing.
	mc := app.Login(member.Email)
	if r := mc.Get(base); r.StatusCode != http.StatusForbidden {
		t.Errorf("member: %d; want 403", r.StatusCode)
	}
	stranger := app.User(webtest.UniqueEmail("hook-stranger"))
	other := app.Workspace(stranger, webtest.UniqueSlug("other"))
	sc := app.Login(stranger.Email)
	id := strings.TrimPrefix(hookPath, base+"/")
	for _, p := range []string{"/w/" + other.Slug + "/settings/webhooks/" + id, "/w/" + ws.Slug + "/settings/webhooks/" + id} {
		if r := sc.Get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("stranger GET %s: %d; want 404", p, r.StatusCode)
		}
	}
	if r := sc.Post("/w/"+other.Slug+"/settings/webhooks/deliveries/"+ids[0]+"/redeliver", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("stranger redelivers: %d; want 404", r.StatusCode)
	}
	if r := sc.Get("/w/" + other.Slug + "/settings/webhooks"); strings.Contains(r.Body, rcv.URL) {
		t.Error("another workspace's list shows the endpoint")
	}
}

// TestWebhookFormInProduction: with private addresses refused, the form takes https:// to public
// hosts only.
func TestWebhookFormInProduction(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{})
	owner := app.User(webtest.UniqueEmail("hook-prod"))
	ws := app.Workspace(owner, webtest.UniqueSlug("hookprod"))
	c := app.Login(owner.Email)
	base := "/w/" + ws.Slug + "/settings/webhooks"
	for _, u := range []string{"http://example.com/x", "https://127.0.0.1/x", "https://localhost/x", "https://10.1.2.3/x", "https://[::1]/x", "https://169.254.169.254/latest"} {
		back := c.Follow(c.Post(base, url.Values{"url": {u}, "event_types": {"task.*"}}))
		if back.TestID("error-url") == "" {
			t.Errorf("%s accepted", u)
		}
	}
	if res := c.Post(base, url.Values{"url": {"https://hooks.example.com/x"}, "event_types": {"task.*"}}); !strings.HasPrefix(res.Header.Get("Location"), base+"/") {
		t.Errorf("a public https address: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}
