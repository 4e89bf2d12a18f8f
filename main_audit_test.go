package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"atrium/models"
	"atrium/models/testdb"
)

// TestAuditVerifyCommand: atrium audit verify succeeds (exit status 0) while every chain holds, and
// fails (exit status 1: run's error) naming the first broken event's id once an event is altered in
// the database; --workspace limits it to one workspace, and an unknown one is an error.
func TestAuditVerifyCommand(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL})
	u, err := models.CreateUser(ctx, d.App, models.NewUser{Email: "verify-" + uuid.NewString()[:8] + "@example.com", Password: "correct horse battery staple"}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	good, err := models.CreateWorkspace(ctx, d.App, u, "Good", "verify-good-"+uuid.NewString()[:6], testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	bad, err := models.CreateWorkspace(ctx, d.App, u, "Bad", "verify-bad-"+uuid.NewString()[:6], testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*models.Workspace{good, bad} {
		for i := range 3 {
			err := models.InWorkspace(ctx, d.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
				return models.Record(ctx, tn, models.Event{Action: "test.cli", Target: fmt.Sprint(i), At: testdb.Now(t)})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"atrium", "audit", "verify"}, args...), vars, strings.NewReader(""), &out)
		return out.String(), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "ok      "+bad.Slug+": 4 events verified") {
		t.Fatalf("intact chains: %v\n%s", err, out)
	}
	var victim uuid.UUID
	if err := d.Owner.NewRaw("SELECT id FROM audit_events WHERE workspace_id = ? AND seq = 3", bad.ID).Scan(ctx, &victim); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("UPDATE audit_events SET action = 'test.forged' WHERE workspace_id = ? AND id = ?", bad.ID, victim).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := verify()
	if err == nil || !strings.Contains(err.Error(), victim.String()) || !strings.Contains(err.Error(), bad.Slug) {
		t.Fatalf("altered event: want an error naming %s, got %v\n%s", victim, err, out)
	}
	if !strings.Contains(out, "ok      "+good.Slug) {
		t.Errorf("the intact workspace is not reported intact:\n%s", out)
	}
	if out, err := verify("--workspace", good.Slug); err != nil || strings.Contains(out, bad.Slug) {
		t.Fatalf("--workspace %s: %v\n%s", good.Slug, err, out)
	}
	if _, err := verify("--workspace", bad.Slug); err == nil || !strings.Contains(err.Error(), victim.String()) {
		t.Fatalf("--workspace %s: %v", bad.Slug, err)
	}
	if _, err := verify("--workspace", "no-such-workspace"); err == nil || !strings.Contains(err.Error(), "no-such-workspace") {
		t.Fatalf("unknown workspace: %v", err)
	}
	if _, err := verify("extra"); err == nil {
		t.Fatal("an unexpected argument was accepted")
	}
}

// TestAuditRetentionCommand: atrium audit retention sets an enterprise workspace's audit retention
// (days, 0 for forever, or back to the default) and refuses other tiers and bad numbers.
func TestAuditRetentionCommand(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL})
	u, err := models.CreateUser(ctx, d.App, models.NewUser{Email: "retention-" + uuid.NewString()[:8] + "@example.com", Password: "correct horse battery staple"}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	ent, err := models.CreateWorkspace(ctx, d.App, u, "Ent", "ret-ent-"+uuid.NewString()[:6], testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	free, err := models.CreateWorkspace(ctx, d.App, u, "Free", "ret-free-"+uuid.NewString()[:6], testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("UPDATE workspaces SET tier = 'enterprise' WHERE id = ?", ent.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	set := func(slug, days string) error {
		var out bytes.Buffer
		return run(ctx, []string{"atrium", "audit", "retention", "--workspace", slug, "--days", days}, vars, strings.NewReader(""), &out)
	}
	stored := func() string {
		var s string
		if err := d.Owner.NewRaw("SELECT coalesce(audit_retention_days::text, 'default') FROM workspaces WHERE id = ?", ent.ID).Scan(ctx, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct{ days, want string }{{"730", "730"}, {"0", "0"}, {"default", "default"}} {
		if err := set(ent.Slug, c.days); err != nil || stored() != c.want {
			t.Errorf("--days %s: stored %s, %v", c.days, stored(), err)
		}
	}
	if err := set(free.Slug, "730"); err == nil || !strings.Contains(err.Error(), "enterprise") {
		t.Errorf("a free workspace: %v", err)
	}
	if err := set(ent.Slug, "-1"); err == nil {
		t.Error("negative days accepted")
	}
}

// TestAuditVerifyHead: atrium audit verify --workspace SLUG --head SEQ:HASH holds while the chain
// still contains the noted head (the newest event then, or an older one), and fails (exit status 1)
// once the chain's tail was cut off, even when the cut left a chain that verifies on its own (the
// head row moved back to match), and once events were written again in the place of the removed
// ones. A head needs a workspace and the form SEQ:HASH.
func TestAuditVerifyHead(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL})
	u, err := models.CreateUser(ctx, d.App, models.NewUser{Email: "head-" + uuid.NewString()[:8] + "@example.com", Password: "correct horse battery staple"}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := models.CreateWorkspace(ctx, d.App, u, "Head", "verify-head-"+uuid.NewString()[:6], testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	record := func(n int) {
		t.Helper()
		for i := range n {
			err := models.InWorkspace(ctx, d.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
				return models.Record(ctx, tn, models.Event{Action: "test.head", Target: fmt.Sprint(i), At: testdb.Now(t)})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	record(5) // seq 1 (the creation) to 6
	link := func(seq int64) string {
		t.Helper()
		var hash string
		if err := d.Owner.NewRaw("SELECT hash FROM audit_events WHERE workspace_id = ? AND seq = ?", ws.ID, seq).Scan(ctx, &hash); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d:%s", seq, hash)
	}
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"atrium", "audit", "verify"}, args...), vars, strings.NewReader(""), &out)
		return out.String(), err
	}
	noted, older := link(6), link(4)
	if out, err := verify("--workspace", ws.Slug, "--head", noted); err != nil || !strings.Contains(out, "still holds the noted head seq 6") {
		t.Fatalf("the current head: %v\n%s", err, out)
	}
	if out, err := verify("--workspace", ws.Slug, "--head", strings.ToUpper(older)); err != nil {
		t.Fatalf("an older head (hash in capitals): %v\n%s", err, out)
	}
	var fourth uuid.UUID
	if err := d.Owner.NewRaw("SELECT id FROM audit_events WHERE workspace_id = ? AND seq = 4", ws.ID).Scan(ctx, &fourth); err != nil {
		t.Fatal(err)
	}
	wrong := "4:" + strings.Repeat("ab", 32)
	if _, err := verify("--workspace", ws.Slug, "--head", wrong); err == nil || !strings.Contains(err.Error(), fourth.String()) {
		t.Fatalf("a head with another hash: want an error naming %s, got %v", fourth, err)
	}
	for _, bad := range [][]string{
		{"--head", noted},                          // no workspace
		{"--workspace", ws.Slug, "--head", "6"},    // no hash
		{"--workspace", ws.Slug, "--head", "0:ab"}, // no such seq, short hash
		{"--workspace", ws.Slug, "--head", "x:" + strings.Repeat("ab", 32)},
	} {
		if _, err := verify(bad...); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}

	// Cut the chain's tail (events 5 and 6) and move its head back to event 4, as a superuser could:
	// the shorter chain verifies on its own, but not against the noted head.
	var hash4 string
	if err := d.Owner.NewRaw("SELECT hash FROM audit_events WHERE workspace_id = ? AND seq = 4", ws.ID).Scan(ctx, &hash4); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("DELETE FROM audit_events WHERE workspace_id = ? AND seq > 4", ws.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("UPDATE audit_chain_heads SET seq = 4, hash = ? WHERE workspace_id = ?", hash4, ws.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := verify("--workspace", ws.Slug); err != nil {
		t.Fatalf("the cut chain on its own (it holds): %v\n%s", err, out)
	}
	out, err := verify("--workspace", ws.Slug, "--head", noted)
	if err == nil || !strings.Contains(err.Error(), "removed from its end") || !strings.Contains(out, "BROKEN") {
		t.Fatalf("the cut chain against the noted head: %v\n%s", err, out)
	}
	if _, err := verify("--workspace", ws.Slug, "--head", older); err != nil {
		t.Fatalf("the cut chain against a head before the cut: %v", err)
	}

	// New events fill the places 5 and 6 again: the event at 6 is not the noted one.
	record(2)
	var sixth uuid.UUID
	if err := d.Owner.NewRaw("SELECT id FROM audit_events WHERE workspace_id = ? AND seq = 6", ws.ID).Scan(ctx, &sixth); err != nil {
		t.Fatal(err)
	}
	if out, err := verify("--workspace", ws.Slug, "--head", noted); err == nil || !strings.Contains(err.Error(), sixth.String()) ||
		!strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("the refilled chain against the noted head: want an error naming %s, got %v\n%s", sixth, err, out)
	}
}
