package models_test

import (
	"atrium/models"
	"atrium/models/testdb"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// clockReads are the ways code can read a clock of its own: Go's and the database's.
var clockReads = regexp.MustCompile(`(?i)\btime\.(Now|Since|Until)\(|\b(now|clock_timestamp|statement_timestamp|transaction_timestamp)\(\)|\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b`)

// clockAllowed lists the reads that stay, each with its reason. An entry is a file and a piece of
// the line; a stale entry fails the test too, so the list only shrinks.
var clockAllowed = []struct{ file, line, why string }{
	{"sessionstore.go", "return s.now()",
		"the session store's clock is the one it is given, the server's (SetClock); the real time only until then"},
	{"sessionstore.go", "time.Until(s.clock())",
		"the session manager computes expiries on the real time; the store moves each onto its clock by the offset between the two"},
	{"meter.go", "time.Since(w.flushed)", "how often a process writes its unlimited count is the process's own pace, not the calls' time"},
	{"meter.go", "time.Since(w.empty)", "how often a process re-asks a used-up hour is the process's own pace, not the calls' time"},
	{"meter.go", "time.Since(km.empty)", "how often a process re-asks a key's used-up slice is the process's own pace, not the calls' time"},
	{"meter.go", "time.Since(w.keysFlushed)", "how often a process writes its keys' counts is the process's own pace, not the calls' time"},
	{"meter.go", "time.Now()", "stamps of the process's own pace (last write, last empty answer), compared only with time.Since"},
	{"keycache.go", "time.Since(e.at)", "a cache entry's age in the process, not a time the key is judged at"},
	{"keycache.go", "at: time.Now()", "when the process cached the entry, compared only with time.Since"},
	{"keycache.go", "at := time.Now()", "when the process fetched the entries, compared only with time.Since"},
	{"replica.go", "clock_timestamp() AS now", "a replica's lag is its own clock against the commit times it replayed: the servers' clocks, not a time the model judges anything at"},
}

// TestOneClock: model logic takes the time from its caller (the server's clock), never from
// time.Now() or the database's now(), so a caller's fixed or moved clock always meets the same
// clock in the query. Column defaults (DEFAULT now()) in the older migrations are skipped here:
// 20261201011201 drops them, and TestNoColumnDefaultReadsTheClock checks the schema itself.
func TestOneClock(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.go", "mail/*.go", "seed/*.go", "../migrations/*.sql"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("scanned only %d files: the globs are wrong", len(files))
	}
	used := make([]bool, len(clockAllowed))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
	lines:
		for i, line := range strings.Split(string(b), "\n") {
			code := line
			if strings.HasSuffix(f, ".go") {
				code, _, _ = strings.Cut(line, "//")
			} else {
				code, _, _ = strings.Cut(line, "--")
				// A column's default in an older migration (dropped since, and checked in the schema).
				code = regexp.MustCompile(`(?i)\bDEFAULT\s+now\(\)`).ReplaceAllString(code, "")
			}
			if !clockReads.MatchString(code) {
				continue
			}
			for k, a := range clockAllowed {
				if filepath.Base(f) == a.file && strings.Contains(code, a.line) {
					used[k] = true
					continue lines
				}
			}
			t.Errorf("%s:%d reads a clock of its own: %s\n\ttake `now` from the caller instead, or add it to clockAllowed with the reason", f, i+1, strings.TrimSpace(line))
		}
	}
	for k, a := range clockAllowed {
		if !used[k] {
			t.Errorf("clockAllowed entry %s %q matches nothing any more: remove it", a.file, a.line)
		}
	}
}

// TestCreateWorkspaceTakesTheCallersClock: a workspace made at a time far from the real date (and
// from TEST_NOW) carries that time everywhere it writes one: the workspace, the owner's
// membership (which once took the column's default, the database's clock), its audit event, and
// the user made at that time. A database clock standing in for any of them shows as today.
func TestCreateWorkspaceTakesTheCallersClock(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	far := time.Date(2041, 3, 4, 5, 6, 7, 0, time.UTC)
	u, err := models.CreateUser(ctx, d.App, models.NewUser{Email: "clock-" + uuid.NewString()[:8] + "@example.com",
		Name: "Clock", Password: "correct horse battery"}, far)
	if err != nil {
		t.Fatal(err)
	}
	slug := "clock-" + uuid.NewString()[:8]
	ws, err := models.CreateWorkspace(ctx, d.App, u, "Clock", slug, far)
	if err != nil {
		t.Fatal(err)
	}
	for what, q := range map[string]string{
		"user":       "SELECT created_at FROM users WHERE id = ?1",
		"workspace":  "SELECT created_at FROM workspaces WHERE id = ?0",
		"membership": "SELECT created_at FROM workspace_members WHERE workspace_id = ?0 AND user_id = ?1",
		"audit":      "SELECT created_at FROM audit_events WHERE workspace_id = ?0 AND action = 'workspace.create'",
	} {
		var at time.Time
		if err := d.Owner.NewRaw(q, ws.ID, u.ID).Scan(ctx, &at); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !at.Equal(far) {
			t.Errorf("%s created_at = %s, want the caller's %s", what, at.UTC(), far)
		}
	}
	mine, err := models.UserWorkspaces(ctx, d.App, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || !mine[0].JoinedAt.Equal(far) {
		t.Errorf("the owner's workspaces = %+v, want one joined at %s", mine, far)
	}
}

// TestNoColumnDefaultReadsTheClock: no column of Atrium's tables defaults to the database's clock,
// so an insert that forgets its time fails (NOT NULL) instead of quietly writing the database's
// today. River's own tables (river_*) keep theirs: the queue schedules and runs jobs by the
// database's clock, which is the one clock every process of a fleet shares for that; and so does
// the migrator's record of when each migration ran (bun_migrations).
func TestNoColumnDefaultReadsTheClock(t *testing.T) {
	d := testdb.Get(t)
	var cols []string
	if err := d.Owner.NewRaw(`SELECT c.table_name || '.' || c.column_name || ' DEFAULT ' || c.column_default
		FROM information_schema.columns AS c
		WHERE c.table_schema = 'public' AND c.table_name NOT LIKE 'river\_%' AND c.table_name NOT LIKE 'bun\_migration%'
		  AND c.column_default ~* '(now\(\)|current_timestamp|clock_timestamp|statement_timestamp|transaction_timestamp|localtimestamp|current_date)'
		ORDER BY 1`).Scan(context.Background(), &cols); err != nil {
		t.Fatal(err)
	}
	if len(cols) > 0 {
		t.Errorf("columns default to the database's clock (take the caller's now instead):\n%s", strings.Join(cols, "\n"))
	}
	// The check can fail: River's table has such a default.
	var river int
	if err := d.Owner.NewRaw(`SELECT count(*) FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = 'river_job' AND column_default ~* 'now\(\)'`).Scan(context.Background(), &river); err != nil {
		t.Fatal(err)
	}
	if river == 0 {
		t.Error("river_job has no now() default: the query above may not see defaults at all")
	}
}
