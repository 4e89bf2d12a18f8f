package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/uptrace/bun"

	"github.com/google/uuid"

	"atrium/models"
	"atrium/models/testdb"
)

// TestTenantReadIsOneRoundTrip: a workspace read is one round trip once its statements are
// prepared, with prepared statements and without; it sees only its workspace's rows.
func TestTenantReadIsOneRoundTrip(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierPro, now)
	other, _ := meterCaller(t, d.App, models.TierPro, now)
	agent := meterAgent(t, d.App, c)
	meterAgent(t, d.App, c)
	foreign := meterAgent(t, d.App, other)
	for _, noPrepare := range []bool{false, true} {
		db, tc := countedPool(t, d, noPrepare)
		read := func(fn func(ctx context.Context, r *models.TenantRead) error) int64 {
			t.Helper()
			before := tc.RoundTrips.Load()
			if err := models.ReadInWorkspace(testdb.Ctx(t), db, c.WorkspaceID, fn); err != nil {
				t.Fatal(err)
			}
			return tc.RoundTrips.Load() - before
		}
		for i := range 3 {
			n := read(func(ctx context.Context, r *models.TenantRead) error {
				a, err := models.ReadAgent(ctx, r, agent)
				if err == nil && (a.ID != agent || a.WorkspaceID != c.WorkspaceID || a.Name != "worker") {
					err = errors.New("wrong agent")
				}
				return err
			})
			if i > 0 && n != 1 {
				t.Errorf("prepare off=%v: reading an agent took %d round trips, want 1", noPrepare, n)
			}
			n = read(func(ctx context.Context, r *models.TenantRead) error {
				list, next, err := models.ReadAgents(ctx, r, models.Page{Limit: 1})
				if err == nil && (len(list) != 1 || next == "") {
					err = errors.New("wrong first page")
				}
				if err != nil {
					return err
				}
				after, _ := models.ParsePage("1", next)
				list, next, err = models.ReadAgents(ctx, r, after)
				if err == nil && (len(list) != 1 || next != "") {
					err = errors.New("wrong last page")
				}
				return err
			})
			if i > 0 && n != 2 {
				t.Errorf("prepare off=%v: two pages took %d round trips, want 2", noPrepare, n)
			}
		}
		read(func(ctx context.Context, r *models.TenantRead) error {
			if _, err := models.ReadAgent(ctx, r, foreign); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("another workspace's agent: %v", err)
			}
			return nil
		})
	}
	if err := models.ReadInWorkspace(testdb.Ctx(t), d.App, uuid.Nil, func(context.Context, *models.TenantRead) error { return nil }); !errors.Is(err, models.ErrNoWorkspace) {
		t.Fatalf("a read without a workspace: %v", err)
	}
}

// countedPool opens a pool of one connection to d, with prepared statements or without, whose
// round trips and statements tc counts on the wire; it is closed when the test ends.
func countedPool(t *testing.T, d *testdb.DB, noPrepare bool) (*bun.DB, *testdb.WireCount) {
	t.Helper()
	tc := new(testdb.WireCount)
	opt := d.AppOptions(1)
	opt.Dial, opt.NoPrepare = tc.Dial, noPrepare
	db, err := models.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, tc
}
