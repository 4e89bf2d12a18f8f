package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// deletionMail is a DeletionMail that names the workspace and the restore deadline.
func deletionMail(ws *models.Workspace, to string, restoreBy time.Time) *models.Mail {
	return &models.Mail{To: to, Subject: "deleted " + ws.Slug, Body: "restore by " + restoreBy.UTC().Format(time.RFC3339)}
}

// TestDeleteWorkspaceSchedulesAndRestores: only an owner, only with the slug typed. Deleting
// schedules: the workspace disappears from its members' lists and lookups, its keys are refused at
// once (also by another process whose cache holds the key for an hour), its slug stays taken, and
// every owner gets one mail; a workspace next to it is untouched. A non-owner cannot restore it;
// an owner can, and then members, keys and data are all back.
func TestDeleteWorkspaceSchedulesAndRestores(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t).UTC().Truncate(time.Second)
	tm := newKeyTeam(t, db)
	other := newKeyTeam(t, db)
	putUsage(t, db, tm.ws.ID, now, 5, 7)
	_, token := keyCreate(t, db, tm.ws.ID, tm.actor(tm.owner), "read", 0, now)
	_, otherToken := keyCreate(t, db, other.ws.ID, other.actor(other.owner), "read", 0, now)

	// Another process, its cache warm with the key for an hour: only the notification can end it.
	second, err := d.OpenApp(context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	b := models.NewKeyCache(second, nil)
	b.SetTTL(time.Hour)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.Listen(lctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "B listens", b.Listening)
	if _, err := b.Authenticate(ctx, token, now); err != nil {
		t.Fatal(err)
	}

	del := func(actor models.Actor, confirm string) (*models.Workspace, error) {
		var ws *models.Workspace
		err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			ws, err = models.DeleteWorkspace(ctx, tn, actor, confirm, now, deletionMail)
			return err
		})
		return ws, err
	}
	if _, err := del(tm.actor(tm.admin), tm.ws.Slug); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("admin: %v, want ErrForbidden", err)
	}
	for _, typed := range []string{"", "yes", tm.ws.Name, tm.ws.Slug + "x"} {
		var ve *models.ValidationError
		if _, err := del(tm.actor(tm.owner), typed); !errors.As(err, &ve) || ve.Fields["confirm"] == "" {
			t.Fatalf("confirm %q: %v, want a validation error", typed, err)
		}
	}
	ws, err := del(tm.actor(tm.owner), " "+tm.ws.Slug+" ")
	if err != nil {
		t.Fatalf("owner with the slug: %v", err)
	}
	if ws.DeletedAt == nil || !ws.DeletedAt.Equal(now) {
		t.Fatalf("deleted_at %v, want the caller's %v", ws.DeletedAt, now)
	}

	// Keys: refused at once here, and within a second by the other process.
	if _, err := models.AuthenticateKey(ctx, db, token, now); !errors.Is(err, models.ErrBadKey) {
		t.Fatalf("the deleted workspace's key: %v, want ErrBadKey", err)
	}
	took := waitFor(t, time.Second, "B refuses the deleted workspace's key", func() bool {
		_, err := b.Authenticate(ctx, token, now)
		return errors.Is(err, models.ErrBadKey)
	})
	t.Logf("the other process refused the key %s after the deletion", took)
	if _, err := b.Authenticate(ctx, otherToken, now); err != nil {
		t.Fatalf("another workspace's key: %v", err)
	}

	// Gone for its members, the owner included; the slug stays taken.
	for _, u := range []*models.User{tm.owner, tm.admin, tm.mia, tm.viewr} {
		if _, err := models.ResolveMembership(ctx, db, tm.ws.Slug, u.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("membership after the deletion: %v", err)
		}
		list, err := models.UserWorkspaces(ctx, db, u.ID)
		if err != nil || len(list) != 0 {
			t.Fatalf("the workspace list after the deletion: %v %v", list, err)
		}
	}
	if taken, err := models.SlugTaken(ctx, db, tm.ws.Slug); err != nil || !taken {
		t.Fatalf("slug taken: %v %v", taken, err)
	}
	if _, err := models.CreateWorkspace(ctx, db, tm.mia, "Squatter", tm.ws.Slug, testdb.Clock()); err == nil {
		t.Fatal("a new workspace took the scheduled workspace's slug")
	}
	// Nobody changes it meanwhile (a request that resolved it a moment before meets 404).
	err = keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.RenameWorkspace(ctx, tn, tm.actor(tm.owner), "Renamed", testdb.Clock())
		return err
	})
	if !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("rename of a scheduled workspace: %v, want ErrNotFound", err)
	}

	// Only owners see it to restore; one mail per owner, with the deadline.
	if list, err := models.DeletedWorkspaces(ctx, db, tm.admin.ID); err != nil || len(list) != 0 {
		t.Fatalf("the admin sees %v %v", list, err)
	}
	list, err := models.DeletedWorkspaces(ctx, db, tm.owner.ID)
	if err != nil || len(list) != 1 || list[0].Slug != tm.ws.Slug || !list[0].Restorable(now) || !list[0].RestoreBy().Equal(now.Add(30*24*time.Hour)) {
		t.Fatalf("the owner's scheduled deletions: %+v %v", list, err)
	}
	var mails []struct {
		To   string `bun:"to_address"`
		Body string `bun:"body"`
	}
	if err := d.Owner.NewRaw("SELECT to_address, body FROM mail_outbox WHERE subject = ?", "deleted "+tm.ws.Slug).Scan(ctx, &mails); err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].To != tm.owner.Email || !strings.Contains(mails[0].Body, now.Add(30*24*time.Hour).Format(time.RFC3339)) {
		t.Fatalf("deletion mail: %+v", mails)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "workspace.delete_scheduled"); n != 1 {
		t.Fatalf("%d delete_scheduled events, want 1", n)
	}

	// Non-owners cannot restore, nor can anybody outside.
	for _, u := range []*models.User{tm.admin, tm.mia, other.owner} {
		if _, err := models.RestoreWorkspace(ctx, db, u, tm.ws.Slug, now.Add(time.Hour)); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("restore by a non-owner: %v, want ErrNotFound", err)
		}
	}
	// The other workspace is untouched.
	if _, err := models.ResolveMembership(ctx, db, other.ws.Slug, other.owner.ID); err != nil {
		t.Fatalf("the other workspace: %v", err)
	}

	back, err := models.RestoreWorkspace(ctx, db, tm.owner, tm.ws.Slug, now.Add(29*24*time.Hour))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if back.DeletedAt != nil {
		t.Fatal("still scheduled after the restore")
	}
	if _, err := models.AuthenticateKey(ctx, db, token, now); err != nil {
		t.Fatalf("the key after the restore: %v", err)
	}
	if _, err := b.Authenticate(ctx, token, now); err != nil {
		t.Fatalf("the key in the other process after the restore: %v", err)
	}
	for _, u := range []*models.User{tm.owner, tm.admin, tm.mia, tm.max, tm.viewr} {
		if _, err := models.ResolveMembership(ctx, db, tm.ws.Slug, u.ID); err != nil {
			t.Fatalf("membership after the restore: %v", err)
		}
	}
	count := func(table string) int {
		var n int
		if err := d.Owner.NewRaw("SELECT count(*) FROM ? WHERE workspace_id = ?", bun.Ident(table), tm.ws.ID).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("workspace_members") != 5 || count("usage_hourly") != 1 || count("api_keys") != 1 {
		t.Fatal("the restored workspace lost rows")
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "workspace.restore"); n != 1 {
		t.Fatalf("%d restore events, want 1", n)
	}
	if list, _ := models.DeletedWorkspaces(ctx, db, tm.owner.ID); len(list) != 0 {
		t.Fatalf("still listed as scheduled: %v", list)
	}
}

// TestDeletedWorkspaceErasedAfterGrace: a deletion can be restored until 30 days have passed;
// after that restoring is refused, and the retention sweep erases the workspace with every row of
// it (its audit log included), leaving a platform event, and frees its slug. A workspace deleted
// later, and one not deleted, stay.
func TestDeletedWorkspaceErasedAfterGrace(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t).UTC().Truncate(time.Second)
	old, recent, kept := newKeyTeam(t, db), newKeyTeam(t, db), newKeyTeam(t, db)
	putUsage(t, db, old.ws.ID, now, 5, 7)
	for _, x := range []struct {
		tm *keyTeam
		at time.Time
	}{{old, now}, {recent, now.Add(2 * 24 * time.Hour)}} {
		err := keyIn(t, db, x.tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.DeleteWorkspace(ctx, tn, x.tm.actor(x.tm.owner), x.tm.ws.Slug, x.at, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(30*24*time.Hour + time.Minute)
	if _, err := models.RestoreWorkspace(ctx, db, old.owner, old.ws.Slug, later); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("restore after 30 days: %v, want ErrConflict", err)
	}
	// The sweep before the grace period ends erases nothing.
	r, err := models.RunRetention(ctx, db, now.Add(29*24*time.Hour))
	if err != nil || r.Erased != 0 {
		t.Fatalf("sweep within the grace period: %d erased, %v", r.Erased, err)
	}
	r, err = models.RunRetention(ctx, db, later)
	if err != nil {
		t.Fatal(err)
	}
	if r.Erased < 1 {
		t.Fatalf("%d erased, want the old one", r.Erased)
	}
	exists := func(tm *keyTeam) bool {
		var n int
		if err := d.Owner.NewRaw("SELECT count(*) FROM workspaces WHERE id = ?", tm.ws.ID).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if exists(old) || !exists(recent) || !exists(kept) {
		t.Fatalf("after the sweep: old %v, recent %v, kept %v", exists(old), exists(recent), exists(kept))
	}
	for _, table := range []string{"workspace_members", "usage_hourly", "usage_monthly", "audit_events", "api_keys"} {
		var n int
		if err := d.Owner.NewRaw("SELECT count(*) FROM ? WHERE workspace_id = ?", bun.Ident(table), old.ws.ID).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s keeps %d rows of the erased workspace", table, n)
		}
	}
	var platform int
	err = d.Owner.NewRaw("SELECT count(*) FROM platform_events WHERE action = 'workspace.delete' AND target = ? AND actor_user_id = ? AND details->>'workspace_id' = ?",
		old.ws.Slug, old.owner.ID, old.ws.ID.String()).Scan(ctx, &platform)
	if err != nil || platform != 1 {
		t.Fatalf("%d platform events of the erasure, want 1 (%v)", platform, err)
	}
	if taken, _ := models.SlugTaken(ctx, db, old.ws.Slug); taken {
		t.Fatal("the erased workspace's slug is still taken")
	}
	if _, err := models.RestoreWorkspace(ctx, db, recent.owner, recent.ws.Slug, later); err != nil {
		t.Fatalf("the later deletion is still restorable: %v", err)
	}
}
