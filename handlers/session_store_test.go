package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// sessionRow is the session's row version and expiry in the store (xmin moves on every write).
func sessionRow(t *testing.T, app *webtest.App, token string) (xmin string, expiry time.Time, found bool) {
	t.Helper()
	err := app.DB.App.NewRaw("SELECT xmin::text, expiry FROM sessions WHERE token = ?", token).
		Scan(context.Background(), &xmin, &expiry)
	if err != nil {
		return "", time.Time{}, false
	}
	return xmin, expiry, true
}

// TestPlainPageViewWritesNoSession: once a signed-in session has settled (the CSRF token made,
// the workspace remembered, "last active" noted), viewing pages writes nothing to the session
// store; logging out still deletes it.
func TestPlainPageViewWritesNoSession(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("nowrite")
	c := app.Login(email)
	ws := app.Workspace(app.User(email+".x"), webtest.UniqueSlug("nw")) // another's: 404s write nothing either
	me, err := models.UserByEmail(context.Background(), app.DB.App, email)
	if err != nil {
		t.Fatal(err)
	}
	own := app.Workspace(me, webtest.UniqueSlug("own"))
	base := "/w/" + own.Slug
	if res := c.Get(base); res.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", res.StatusCode)
	}
	tok := c.Cookie()
	xmin, expiry, ok := sessionRow(t, app, tok)
	if !ok {
		t.Fatal("no session row after log-in")
	}
	for _, p := range []string{base, base + "/members", base + "/usage?range=90", base, "/w/" + ws.Slug} {
		c.Get(p)
		x, e, ok := sessionRow(t, app, tok)
		if !ok || x != xmin || !e.Equal(expiry) {
			t.Fatalf("GET %s wrote the session (xmin %s → %s, expiry %s → %s, found %v)", p, xmin, x, expiry, e, ok)
		}
	}
	// Logging out still ends the session in the store.
	res := c.Post("/logout", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if _, _, ok := sessionRow(t, app, tok); ok {
		t.Fatal("logout left the session row")
	}
}

// TestIdleTimeoutStillEndsTheSession: with the server's one clock (which the session store reads)
// moved past the idle timeout since the last request, the next request is signed out; just short
// of it, still signed in.
func TestIdleTimeoutStillEndsTheSession(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{SessionIdle: 30 * time.Minute})
	email := webtest.UniqueEmail("idle")
	c := app.Login(email)
	if _, ok := app.Server.Sessions.Store.(*models.SessionStore); !ok {
		t.Fatalf("session store is %T", app.Server.Sessions.Store)
	}
	if res := c.Get("/workspaces"); res.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d", res.StatusCode)
	}
	// Just short of the idle timeout (less the minute a deadline may lag): still signed in.
	app.Advance(30*time.Minute - models.SessionTouchEvery - 10*time.Second)
	if res := c.Get("/workspaces"); res.StatusCode != http.StatusOK {
		t.Fatalf("within the idle timeout: %d", res.StatusCode)
	}
	// Past it since that request: signed out.
	app.Advance(30*time.Minute + time.Second)
	if res := c.Get("/workspaces"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("idle past the timeout: %d, want a redirect to log in", res.StatusCode)
	}
}
