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

// supportMail is a SupportAccessMail that names the grant.
func supportMail(to, workspace string, viewer *models.User, g *models.SupportGrant) *models.Mail {
	return &models.Mail{To: to, Subject: "support opened " + workspace, Body: g.ID.String() + " " + g.Reason + " " + g.Ticket}
}

// TestSupportNeedsAReasonPerTimeBox: support opens a workspace only under a grant given with a
// reason and a ticket (both required, length-limited, nothing stored when refused). The grant
// opens that workspace only, to that person only, for the window from the caller's clock; every
// look within it is recorded with its reason and ticket, and after it a new reason is needed. The
// owners' mail, when they asked for it, goes once per grant and owner, never per look.
func TestSupportNeedsAReasonPerTimeBox(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t).UTC().Truncate(time.Second)
	tm, other := newKeyTeam(t, db), newKeyTeam(t, db)
	staff, colleague := newSupportUser(t, db), newSupportUser(t, db)

	if _, err := models.LookupSupportAccess(ctx, db, tm.owner, tm.ws.Slug, now); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a customer looks up support access: %v", err)
	}
	if _, err := models.LookupSupportAccess(ctx, db, staff, "no-such-workspace", now); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown slug: %v", err)
	}
	acc, err := models.LookupSupportAccess(ctx, db, staff, tm.ws.Slug, now)
	if err != nil || acc.WorkspaceID != tm.ws.ID || acc.Grant != nil {
		t.Fatalf("before any reason: %+v %v", acc, err)
	}
	look := func(viewer *models.User, slug string, at time.Time) (*models.SupportAccess, *models.SupportWorkspaceView, error) {
		return models.SupportLook(ctx, db, func() *bun.DB { return db }, viewer, slug, at, 7)
	}
	if _, _, err := look(tm.owner, tm.ws.Slug, now); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a customer looks at a workspace as support: %v", err)
	}
	if acc, v, err := look(staff, tm.ws.Slug, now); err != nil || acc.Grant != nil || v != nil {
		t.Fatalf("a look without a grant: %+v %+v %v, want the reason asked and nothing read", acc, v, err)
	}

	// Refused reasons store nothing.
	for _, x := range []struct{ reason, ticket, field string }{
		{"", "T-1", "reason"}, {"   ", "T-1", "reason"}, {"Billing question", "", "ticket"},
		{strings.Repeat("é", models.SupportReasonMax+1), "T-1", "reason"}, {"Why", strings.Repeat("x", models.SupportTicketMax+1), "ticket"},
		{"Why", "T\x001", "ticket"},
	} {
		var ve *models.ValidationError
		if _, err := models.GrantSupportAccess(ctx, db, staff, tm.ws.ID, x.reason, x.ticket, now, time.Hour, supportMail); !errors.As(err, &ve) || ve.Fields[x.field] == "" {
			t.Fatalf("reason %q ticket %q: %v, want a message for %s", x.reason, x.ticket, err, x.field)
		}
	}
	if _, err := models.GrantSupportAccess(ctx, db, tm.owner, tm.ws.ID, "Why", "T-1", now, time.Hour, supportMail); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a customer grants themself support access: %v", err)
	}
	var grants int
	if err := d.Owner.NewRaw("SELECT count(*) FROM support_access_grants WHERE workspace_id = ?", tm.ws.ID).Scan(ctx, &grants); err != nil || grants != 0 {
		t.Fatalf("%d grants stored by refused tries (%v)", grants, err)
	}

	// The owners opt in; an admin may not change it.
	setNotify := func(a models.Actor, on bool) error {
		return keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.SetNotifySupportAccess(ctx, tn, a, on, testdb.Clock())
			return err
		})
	}
	if err := setNotify(tm.actor(tm.admin), true); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("an admin turns the mail on: %v", err)
	}
	if err := setNotify(tm.actor(tm.owner), true); err != nil {
		t.Fatal(err)
	}

	g, err := models.GrantSupportAccess(ctx, db, staff, tm.ws.ID, "  Customer reports wrong usage numbers ", " ZD-4242 ", now, time.Hour, supportMail)
	if err != nil {
		t.Fatal(err)
	}
	if g.Reason != "Customer reports wrong usage numbers" || g.Ticket != "ZD-4242" || !g.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("grant %+v", g)
	}
	// Within the box: looks need no new reason, and each is recorded with it.
	for _, at := range []time.Time{now, now.Add(30 * time.Minute), now.Add(59 * time.Minute)} {
		acc, v, err := look(staff, tm.ws.Slug, at)
		if err != nil || acc.Grant == nil || acc.Grant.ID != g.ID || v == nil || v.Workspace.ID != tm.ws.ID {
			t.Fatalf("at +%s: %+v %+v %v", at.Sub(now), acc, v, err)
		}
	}
	// Not for another person, not for another workspace, not after the box: the reason is asked,
	// nothing is read and nothing recorded.
	if acc, v, err := look(colleague, tm.ws.Slug, now); err != nil || acc.Grant != nil || v != nil {
		t.Fatalf("a colleague uses the grant: %+v %+v %v", acc, v, err)
	}
	if acc, v, err := look(staff, other.ws.Slug, now); err != nil || acc.Grant != nil || v != nil {
		t.Fatalf("the grant opens another workspace: %+v %+v %v", acc, v, err)
	}
	if acc, v, err := look(staff, tm.ws.Slug, now.Add(time.Hour)); err != nil || acc.Grant != nil || v != nil {
		t.Fatalf("after the time-box: %+v %+v %v", acc, v, err)
	}
	if acc, err := models.LookupSupportAccess(ctx, db, staff, tm.ws.Slug, now.Add(time.Hour)); err != nil || acc.Grant != nil {
		t.Fatalf("after the time-box: %+v %v", acc, err)
	}

	// The statement itself: a customer gets no answer and writes nothing; a look made inside another
	// workspace's transaction writes its line into the looked-at workspace's log and puts the
	// transaction's own binding back.
	var found []string
	if err := db.NewRaw("SELECT slug FROM atrium_support_look(?, ?, ?, ?, 'usage', 7, '')", tm.ws.Slug, tm.owner.ID, now, models.NewID()).
		Scan(ctx, &found); err != nil || len(found) != 0 {
		t.Fatalf("a customer's own call: %v %v", found, err)
	}
	err = models.InWorkspace(ctx, db, other.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		var slug, bound string
		if err := tn.Tx().NewRaw(`SELECT l.slug, current_setting('app.workspace_id') FROM atrium_support_look(?, ?, ?, ?, 'usage', 7, '') AS l`,
			tm.ws.Slug, staff.ID, now, models.NewID()).Scan(ctx, &slug, &bound); err != nil {
			return err
		}
		if slug != tm.ws.Slug || bound != other.ws.ID.String() {
			t.Errorf("a look at %q leaves the transaction bound to %q, want its own workspace", slug, bound)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The audit log: the grant, and four looks, each with the reason and ticket.
	var views []struct {
		Reason string `bun:"reason"`
		Ticket string `bun:"ticket"`
		Grant  string `bun:"grant_id"`
	}
	err = d.Owner.NewRaw(`SELECT details->>'reason' AS reason, details->>'ticket' AS ticket, details->>'grant_id' AS grant_id
		FROM audit_events WHERE workspace_id = ? AND action = 'support.view'`, tm.ws.ID).Scan(ctx, &views)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 4 {
		t.Fatalf("%d support.view events, want 4", len(views))
	}
	for _, v := range views {
		if v.Reason != g.Reason || v.Ticket != g.Ticket || v.Grant != g.ID.String() {
			t.Fatalf("support.view details %+v", v)
		}
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "support.access"); n != 1 {
		t.Fatalf("%d support.access events, want 1", n)
	}
	if n := auditCount(t, d.Owner, other.ws.ID, "support.view") + auditCount(t, d.Owner, other.ws.ID, "support.access"); n != 0 {
		t.Fatalf("the other workspace got %d support events", n)
	}

	// One mail to the one owner for this grant, none per look; a new grant mails again; with
	// the setting off, none.
	mails := func() int {
		var n int
		if err := d.Owner.NewRaw("SELECT count(*) FROM mail_outbox WHERE subject = ?", "support opened "+tm.ws.Name).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := mails(); n != 1 {
		t.Fatalf("%d mails after one grant and four looks, want 1", n)
	}
	var to string
	if err := d.Owner.NewRaw("SELECT to_address FROM mail_outbox WHERE subject = ?", "support opened "+tm.ws.Name).Scan(ctx, &to); err != nil || to != tm.owner.Email {
		t.Fatalf("mailed to %q (%v), want the owner", to, err)
	}
	if _, err := models.GrantSupportAccess(ctx, db, staff, tm.ws.ID, "Second look", "ZD-4243", now.Add(2*time.Hour), time.Hour, supportMail); err != nil {
		t.Fatal(err)
	}
	if n := mails(); n != 2 {
		t.Fatalf("%d mails after two grants, want 2", n)
	}
	if err := setNotify(tm.actor(tm.owner), false); err != nil {
		t.Fatal(err)
	}
	if _, err := models.GrantSupportAccess(ctx, db, staff, tm.ws.ID, "Third look", "ZD-4244", now.Add(4*time.Hour), time.Hour, supportMail); err != nil {
		t.Fatal(err)
	}
	if n := mails(); n != 2 {
		t.Fatalf("%d mails with the setting off, want still 2", n)
	}
}
