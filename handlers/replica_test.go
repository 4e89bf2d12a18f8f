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

	"github.com/uptrace/bun"

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
	// The pause is only requested until the replica's startup process reaches it: until then it
	// goes on replaying, and a workspace made meanwhile could reach the replica after all, leaving
	// it caught up with a primary that then writes nothing more.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var state string
		if err := r.StandbyOwner.QueryRowContext(context.Background(), "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "paused" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica's replay did not pause: %s", state)
		}
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

// TestSupportPagesWithAReplicaInAtMostFiveRoundTrips: with a replica the support console's list,
// a search and a look at a workspace stay within five round trips, counted on both pools: the
// replica's position (one round trip on each), then the read on the replica, and on the primary
// the session, a search's line in the platform log or a look's record. Their statements are six
// at most (the position's two among them).
func TestSupportPagesWithAReplicaInAtMostFiveRoundTrips(t *testing.T) {
	r := testdb.StartReplicated(t)
	var onPrimary, onReplica testdb.WireCount
	open := func(url string, w *testdb.WireCount) *bun.DB {
		t.Helper()
		db, err := models.Open(context.Background(), models.OpenOptions{URL: url, SetRole: models.AppRole, MaxConns: 4, Dial: w.Dial})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	primary, replica := open(r.Primary.URL, &onPrimary), open(r.Standby.URL, &onReplica)
	d := &testdb.DB{Name: "atrium", OwnerURL: r.Primary.URL, Owner: r.Owner, App: r.App, Guard: &testdb.ScopeGuard{}}
	app := &webtest.App{T: t, DB: d}
	app.Server = handlers.New(primary, handlers.Config{Replica: replica, ReplicaMaxLag: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app.Server.Now = testdb.Clock
	app.HTTP = httptest.NewServer(app.Server)
	t.Cleanup(func() { app.Server.Close(context.Background()) })
	t.Cleanup(app.HTTP.Close)
	owner := app.User(webtest.UniqueEmail("replica-rt"))
	ws := app.Workspace(owner, webtest.UniqueSlug("replica-rt"))
	_, sup := supportLogin(t, app)
	supportOpen(t, sup, ws.Slug)
	for _, p := range []string{"/support/workspaces", "/support/workspaces?q=" + ws.Slug, "/support/workspaces/" + ws.Slug} {
		for range 2 { // settle: the session's CSRF token, the prepared statements on both pools
			sup.Get(p)
		}
		best, bestSt, from := int64(1<<30), int64(1<<30), ""
		for range 3 { // a pooled connection idle for a second is pinged first: take the best of three
			rt0, st0 := onPrimary.RoundTrips.Load()+onReplica.RoundTrips.Load(), onPrimary.Statements.Load()+onReplica.Statements.Load()
			res := sup.Get(p)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", p, res.StatusCode)
			}
			from = res.TestID("read-from")
			best = min(best, onPrimary.RoundTrips.Load()+onReplica.RoundTrips.Load()-rt0)
			bestSt = min(bestSt, onPrimary.Statements.Load()+onReplica.Statements.Load()-st0)
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(from, "Read from the replica") {
			t.Errorf("GET %s: %q, want a read from the replica", p, from)
		}
		if best > 5 || bestSt > 6 {
			t.Errorf("GET %s: %d round trips and %d statements on the two pools, want at most 5 and 6", p, best, bestSt)
		}
		t.Logf("GET %s: %d round trips, %d statements on the two pools", p, best, bestSt)
	}
}
