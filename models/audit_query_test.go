package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"atrium/models"
	"atrium/models/testdb"
)

// TestListAuditPagesNewestFirst: 120 events, some sharing an instant, come back newest first in
// pages of 50, 50 and 20 with no event twice or missing; filters narrow them; another workspace's
// events never show.
func TestListAuditPagesNewestFirst(t *testing.T) {
	db := testdb.Get(t).App
	tm := newKeyTeam(t, db)
	other := newKeyTeam(t, db)
	key, _ := keyCreate(t, db, tm.ws.ID, tm.actor(tm.owner), "read", 0, testdb.Now(t))
	base := testdb.Now(t).Truncate(time.Minute)
	insert := func(ws uuid.UUID, evs []*models.AuditEvent) {
		err := keyIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().NewInsert().Model(&evs).Exec(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var evs []*models.AuditEvent
	for i := range 120 {
		e := &models.AuditEvent{ID: models.NewID(), Action: "test.even", Target: fmt.Sprint(i), Details: map[string]any{"i": i},
			CreatedAt: base.Add(time.Duration(i/3) * time.Minute)} // three events per instant
		switch {
		case i%2 == 1:
			e.Action = "test.odd"
			e.ActorUserID = &tm.admin.ID
		case i%10 == 0:
			e.ActorKeyID = &key.ID
		default:
			e.ActorUserID = &tm.owner.ID
		}
		evs = append(evs, e)
	}
	insert(tm.ws.ID, evs)
	insert(other.ws.ID, []*models.AuditEvent{{ID: models.NewID(), Action: "test.even", ActorUserID: &other.owner.ID, CreatedAt: base.Add(time.Hour)}})

	list := func(f models.AuditFilter) []models.AuditEntry {
		t.Helper()
		var all []models.AuditEntry
		pages := 0
		for {
			var p, one *models.AuditPage
			var actions []string
			err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
				if p, err = models.ListAudit(ctx, tn, f); err != nil {
					return err
				}
				one, actions, err = models.ReadAuditPage(ctx, tn, f)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			// The page's one statement reads the same page, and the actions for the filter.
			if fmt.Sprint(auditKeys(one.Entries)) != fmt.Sprint(auditKeys(p.Entries)) || one.Next != p.Next {
				t.Fatalf("ReadAuditPage differs from ListAudit:\n%v %q\n%v %q", auditKeys(one.Entries), one.Next, auditKeys(p.Entries), p.Next)
			}
			if want := []string{"api_key.create", "test.even", "test.odd", "workspace.create"}; fmt.Sprint(actions) != fmt.Sprint(want) {
				t.Fatalf("ReadAuditPage's actions %v, want %v", actions, want)
			}
			all = append(all, p.Entries...)
			pages++
			if p.Next == "" {
				break
			}
			if len(p.Entries) != models.AuditPageSize {
				t.Fatalf("a page before the last has %d entries", len(p.Entries))
			}
			f.After = p.Next
		}
		return all
	}
	// The workspace's own workspace.create and api_key.create events come first (newest).
	all := list(models.AuditFilter{})
	var tests []models.AuditEntry
	for _, e := range all {
		if e.Action == "test.even" || e.Action == "test.odd" {
			tests = append(tests, e)
		}
	}
	if len(tests) != 120 {
		t.Fatalf("%d test events, want 120", len(tests))
	}
	seen := map[uuid.UUID]bool{}
	for i, e := range tests {
		if seen[e.ID] {
			t.Fatalf("event %s twice", e.ID)
		}
		seen[e.ID] = true
		if want := fmt.Sprint(119 - i); e.Target != want {
			t.Fatalf("position %d holds event %s, want %s (newest first, id breaking ties)", i, e.Target, want)
		}
	}
	if e := tests[0]; e.Action != "test.odd" || e.ActorEmail != tm.admin.Email || e.Actor() != tm.admin.Name+" <"+tm.admin.Email+">" {
		t.Errorf("newest: %+v", e)
	}

	t.Run("filters", func(t *testing.T) {
		for _, tt := range []struct {
			f    models.AuditFilter
			want int
		}{
			{models.AuditFilter{Action: "test.odd"}, 60},
			{models.AuditFilter{Actor: tm.admin.Email}, 60},
			{models.AuditFilter{Actor: "  " + tm.owner.Email}, 48 + 1 + 1}, // + workspace.create and api_key.create
			{models.AuditFilter{Action: "test.even", Actor: key.Prefix}, 12},
			{models.AuditFilter{Action: "test.even", Actor: tm.owner.Email}, 48},
			{models.AuditFilter{Actor: other.owner.Email}, 0},
			{models.AuditFilter{Action: "nothing.like.this"}, 0},
		} {
			if got := list(tt.f); len(got) != tt.want {
				t.Errorf("%+v: %d events, want %d", tt.f, len(got), tt.want)
			}
		}
	})
	t.Run("bad cursor starts at the newest", func(t *testing.T) {
		got := list(models.AuditFilter{Action: "test.odd", After: "not-a-cursor"})
		if len(got) != 60 {
			t.Fatalf("%d events", len(got))
		}
	})
	t.Run("key actor and CSV", func(t *testing.T) {
		got := list(models.AuditFilter{Actor: key.Prefix})
		if len(got) != 12 {
			t.Fatalf("%d events by the key", len(got))
		}
		rec := got[0].CSVRecord()
		if len(rec) != len(models.AuditCSVHeader) || rec[1] != "API key "+key.Name+" ("+key.Prefix+")" || rec[4] != key.Prefix || rec[5] != "test.even" {
			t.Fatalf("CSV record %q", rec)
		}
		var details map[string]any
		if err := json.Unmarshal([]byte(rec[7]), &details); err != nil || details["i"] != float64(110) {
			t.Fatalf("details %q: %v", rec[7], err)
		}
		if at, err := time.Parse(time.RFC3339Nano, rec[0]); err != nil || !at.Equal(base.Add(36*time.Minute)) {
			t.Fatalf("time %q", rec[0])
		}
	})
	t.Run("actions", func(t *testing.T) {
		var actions []string
		err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			actions, err = models.AuditActions(ctx, tn)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"api_key.create", "test.even", "test.odd", "workspace.create"}
		if fmt.Sprint(actions) != fmt.Sprint(want) {
			t.Fatalf("actions %v, want %v", actions, want)
		}
	})
	t.Run("each", func(t *testing.T) {
		n := 0
		err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			return models.EachAudit(ctx, tn, models.AuditFilter{}, func(*models.AuditEntry) error { n++; return nil })
		})
		if err != nil || n != len(all) {
			t.Fatalf("EachAudit saw %d of %d: %v", n, len(all), err)
		}
	})
}

func TestAuditEntryText(t *testing.T) {
	e := models.AuditEntry{Details: map[string]any{"b": "two", "a": map[string]any{"role": "admin"}, "c": 3.0}}
	if got := e.DetailsText(); got != `a: {"role":"admin"}, b: two, c: 3` {
		t.Fatalf("DetailsText = %q", got)
	}
	if got := (&models.AuditEntry{}).Actor(); got != "Atrium" {
		t.Fatalf("no actor: %q", got)
	}
}

// auditKeys is what a reader sees of each entry, for comparing two readings.
func auditKeys(es []models.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprint(e.ID, e.CreatedAt.UTC().Format(time.RFC3339Nano), e.Action, e.Actor(), e.ActorStaff,
			e.Target, e.TargetName, e.TargetKeyName, e.DetailsText(), e.IP))
	}
	return out
}
