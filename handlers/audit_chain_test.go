package handlers_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// TestAuditPageChainHeadAndVerify: the audit page shows the chain head (seq and hash) to owners
// and admins; Verify (with htmx or without) says the chain holds, and once an event is altered in
// the database, names that event. Members may not verify.
func TestAuditPageChainHeadAndVerify(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	base := "/w/" + sp.ws.Slug + "/audit"
	for range 3 {
		err := models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			return models.Record(ctx, tn, models.Event{ActorUserID: c.admin.ID, Action: "test.chain", At: testdb.Now(t)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var head models.ChainLink
	if err := app.DB.Owner.NewRaw("SELECT seq, hash FROM audit_chain_heads WHERE workspace_id = ?", sp.ws.ID).Scan(context.Background(), &head.Seq, &head.Hash); err != nil {
		t.Fatal(err)
	}
	owner := c.clients[models.RoleOwner]
	page := owner.Get(base)
	if got := page.TestID("audit-head-seq"); got != "event #"+strconv.FormatInt(head.Seq, 10) {
		t.Errorf("head seq shown %q, want event #%d", got, head.Seq)
	}
	if got := page.TestID("audit-head-hash"); got != head.Hash || len(got) != 64 {
		t.Errorf("head hash shown %q, want %s", got, head.Hash)
	}
	if !page.Has("audit-verify") || page.Has("audit-verify-result") {
		t.Fatal("the page has no Verify button, or a result before any check")
	}

	for _, role := range []models.Role{models.RoleMember, models.RoleViewer} {
		if res := c.clients[role].Post(base+"/verify", nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s verifies: %d", role, res.StatusCode)
		}
	}
	admin := c.clients[models.RoleAdmin]
	frag := admin.HTMX(http.MethodPost, base+"/verify", nil)
	if frag.StatusCode != 200 || strings.Contains(frag.Body, "<html") {
		t.Fatalf("htmx verify: %d\n%s", frag.StatusCode, frag.Body)
	}
	if ok, _ := frag.Doc().Find(`[data-testid="audit-verify-result"]`).Attr("data-ok"); ok != "true" {
		t.Fatalf("intact chain: result %q: %s", ok, frag.TestID("audit-verify-result"))
	}
	if !strings.Contains(frag.TestID("audit-verify-result"), strconv.FormatInt(head.Seq, 10)+" events") {
		t.Errorf("result does not count the events: %q", frag.TestID("audit-verify-result"))
	}

	var victim uuid.UUID
	if err := app.DB.Owner.NewRaw("SELECT id FROM audit_events WHERE workspace_id = ? AND seq = 2", sp.ws.ID).Scan(context.Background(), &victim); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB.Owner.NewRaw("UPDATE audit_events SET target = 'forged' WHERE workspace_id = ? AND id = ?", sp.ws.ID, victim).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	full := owner.Back(owner.Post(base+"/verify", nil), base)
	if full.StatusCode != 200 || !strings.Contains(full.Body, "<html") {
		t.Fatalf("verify without htmx: %d", full.StatusCode)
	}
	if owner.Get(base).Has("audit-verify-result") {
		t.Error("the result is shown again on a reload")
	}
	if ok, _ := full.Doc().Find(`[data-testid="audit-verify-result"]`).Attr("data-ok"); ok != "false" {
		t.Fatalf("altered chain: result %q", ok)
	}
	if got := full.TestID("audit-broken-id"); got != victim.String() {
		t.Errorf("named %q, want the altered event %s", got, victim)
	}
	if len(auditRows(full)) == 0 {
		t.Error("the page without htmx lost its events")
	}
}
