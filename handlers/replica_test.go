package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// TestHeavyReadsFromAReplica runs the server against a primary with a real streaming replica
// (pg_basebackup, hot standby on another port). The support console, the usage page and the CSV
// exports read from the replica and say as of when; while its replay is paused they show the
// replica's older state, not the primary's; past the lag bound, and with the replica stopped,
// they read the primary and say why.
func TestHeavyReadsFromAReplica(t *testing.T) {
	r := testdb.StartReplicated(t)
	d := &testdb.DB{Name: "atrium", OwnerURL: r.Primary.URL, Owner: r.Owner, App: r.App, Guard: &testdb.ScopeGuard{}}
	app := &webtest.App{T: t, DB: d}
	app.Server = handlers.New(r.App, handlers.Config{Replica: r.Replica, ReplicaMaxLag: time.Hour},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	app.Server.Now = testdb.Clock
	app.HTTP = httptest.NewServer(app.Server)
	t.Cleanup(func() { app.Server.Close(context.Background()) })
	t.Cleanup(app.HTTP.Close)

	caughtUp := func() {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			st, err := models.ReplicaPosition(context.Background(), r.App, r.Replica)
			if err == nil && st.Lag == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replica did not catch up: %+v %v", st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	owner := app.User(webtest.UniqueEmail("replica-owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("replica"))
	_, sup := supportLogin(t, app)
	supportOpen(t, sup, ws.Slug)
	c := app.Login(owner.Email)
	caughtUp()

	pages := map[string]*webtest.Client{
		"/support/workspaces":               sup,
		"/support/workspaces/" + ws.Slug:    sup,
		"/w/" + ws.Slug + "/usage":          c,
		"/w/" + ws.Slug + "/usage?range=90": c,
	}
	csvs := map[string]*webtest.Client{
		"/support/workspaces.csv":      sup,
		"/w/" + ws.Slug + "/usage.csv": c,
		"/w/" + ws.Slug + "/audit.csv": c,
	}
	expect := func(when, want, source string) {
		t.Helper()
		for path, cl := range pages {
			res := cl.Get(path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s: %d", when, path, res.StatusCode)
			}
			if note := res.TestID("read-from"); !strings.Contains(note, want) {
				t.Errorf("%s: %s says %q, want %q", when, path, note, want)
			}
		}
		for path, cl := range csvs {
			res := cl.Get(path)
			from := res.Header.Get("X-Atrium-Read-From")
			if res.StatusCode != http.StatusOK || from != source {
				t.Errorf("%s: %s: %d, read from %q, want %q", when, path, res.StatusCode, from, source)
			}
			if _, err := time.Parse(time.RFC3339, res.Header.Get("X-Atrium-As-Of")); (from == "replica") != (err == nil) {
				t.Errorf("%s: %s: as of %q from %s", when, path, res.Header.Get("X-Atrium-As-Of"), from)
			}
		}
	}
	expect("caught up", "Read from the replica, as of ", "replica")

	// Replay paused: a workspace made on the primary is not on the replica, and the console,
	// reading the replica, does not list it.
	if _, err := r.StandbyOwner.ExecContext(context.Background(), "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	later := app.Workspace(owner, webtest.UniqueSlug("replica-later"))
	listed := func() bool {
		return strings.Contains(sup.Get("/support/workspaces?q="+later.Slug).Body, "/support/workspaces/"+later.Slug)
	}
	if res := sup.Get("/support/workspaces"); !strings.Contains(res.TestID("read-from"), "replica") {
		t.Fatalf("behind within the bound: %q", res.TestID("read-from"))
	}
	if listed() {
		t.Fatal("the support console lists a workspace the replica has not replayed: it did not read the replica")
	}

	// Past the bound: the primary answers, and says why.
	time.Sleep(50 * time.Millisecond)
	app.Server.Cfg.ReplicaMaxLag = 20 * time.Millisecond
	expect("behind", "come from the primary", "primary")
	if note := sup.Get("/support/workspaces").TestID("read-from"); !strings.Contains(note, "more than 20ms behind") {
		t.Errorf("behind: %q", note)
	}
	if !listed() {
		t.Fatal("reading the primary, the console does not list the new workspace")
	}

	// Replay resumed: the replica again, now with the new workspace.
	app.Server.Cfg.ReplicaMaxLag = time.Hour
	if _, err := r.StandbyOwner.ExecContext(context.Background(), "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	caughtUp()
	expect("resumed", "Read from the replica, as of ", "replica")
	if !listed() {
		t.Fatal("after the replay resumed the replica does not list the new workspace")
	}

	// The replica stopped: the primary answers, and says so.
	if err := r.Standby.Stop(); err != nil {
		t.Fatal(err)
	}
	expect("stopped", "is not answering", "primary")
	if !listed() {
		t.Fatal("with the replica down the console does not list the workspaces")
	}
}
