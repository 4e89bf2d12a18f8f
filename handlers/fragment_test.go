package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"

	"github.com/jackc/pgx/v5"
)

// switcherQueries counts the workspace-list (switcher) queries made for one user: by the user's
// id, or by the session token (the list is read with the session, for the user it belongs to). It
// watches the pool's connections (a pgx tracer), so it sees every query, prepared or not.
type switcherQueries struct {
	user  string
	mu    sync.Mutex
	token string
	n     int
}

func (h *switcherQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, q pgx.TraceQueryStartData) context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !strings.Contains(q.SQL, "atrium_user_workspaces(") {
		return ctx
	}
	mine := strings.Contains(q.SQL, h.user)
	for _, a := range q.Args {
		if s, ok := a.(string); ok && (s == h.user || h.token != "" && s == h.token) {
			mine = true
		}
	}
	if mine {
		h.n++
	}
	return ctx
}

func (h *switcherQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (h *switcherQueries) setToken(tok string) {
	h.mu.Lock()
	h.token = tok
	h.mu.Unlock()
}

func (h *switcherQueries) take() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.n
	h.n = 0
	return n
}

// TestFragmentsLeaveTheFrameAlone: an htmx fragment (the member search, the keys panel) answers
// the fragment alone, without the page frame, makes no switcher query and leaves the flash message
// for the next full page, which shows it once.
func TestFragmentsLeaveTheFrameAlone(t *testing.T) {
	d := testdb.Get(t)
	app := &webtest.App{T: t, DB: d}
	owner := app.User(webtest.UniqueEmail("frag"))
	hook := &switcherQueries{user: owner.ID.String()}
	opt := d.AppOptions(4)
	opt.Tracer = hook
	db, err := models.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	app.Server = handlers.New(db.WithQueryHook(d.Guard), handlers.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app.HTTP = httptest.NewServer(app.Server)
	t.Cleanup(app.HTTP.Close)

	ws := app.Workspace(owner, webtest.UniqueSlug("frag"))
	c := app.Login(owner.Email)
	hook.setToken(c.Cookie())
	base := "/w/" + ws.Slug
	if c.Get(base + "/members"); hook.take() == 0 {
		t.Fatal("a full page made no switcher query: the counter sees nothing")
	}
	res := c.Post(base+"/settings/name", url.Values{"name": {"Renamed space"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", res.StatusCode)
	}
	hook.take()

	fragments := []struct {
		name string
		do   func() *webtest.Response
		root string
	}{
		{"member search", func() *webtest.Response { return c.HTMX(http.MethodGet, base+"/members?q=frag", nil) }, "members-table"},
		{"new key panel", func() *webtest.Response {
			return c.HTMX(http.MethodPost, base+"/keys", url.Values{"name": {""}, "scope": {"read"}})
		}, "new-key-panel"},
		{"keys panel", func() *webtest.Response {
			return c.HTMX(http.MethodPost, base+"/keys", url.Values{"name": {"frag"}, "scope": {"read"}, "expires_in_days": {"7"}})
		}, "keys-panel"},
		{"remove dialog", func() *webtest.Response {
			return c.HTMX(http.MethodGet, base+"/leave", nil)
		}, "confirm-form"},
	}
	for _, f := range fragments {
		res := f.do()
		if res.StatusCode >= 500 || !strings.Contains(res.Body, `id="`+f.root+`"`) && !res.Has(f.root) {
			t.Fatalf("%s: %d %s", f.name, res.StatusCode, res.Body)
		}
		if strings.Contains(res.Body, "<html") || res.Has("switcher") || res.Has("flash") || strings.Contains(res.Body, `id="flash"`) {
			t.Errorf("%s: the fragment carries the page frame: %s", f.name, res.Body)
		}
		if n := hook.take(); n != 0 {
			t.Errorf("%s: %d switcher queries for a fragment", f.name, n)
		}
	}

	page := c.Get(base + "/members")
	if got := page.TestID("flash"); !strings.Contains(got, "Renamed space") {
		t.Fatalf("the next full page's flash: %q, want the rename's message", got)
	}
	if hook.take() == 0 {
		t.Error("the full page made no switcher query")
	}
	if again := c.Get(base + "/members"); again.Has("flash") {
		t.Errorf("the flash shows twice: %q", again.TestID("flash"))
	}
}
