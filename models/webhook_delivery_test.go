package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"atrium/models"
	"atrium/models/testdb"
)

// TestFailingEndpointDisabledAfterADay: attempts that fail are retried with growing waits; a day
// after the first failure the endpoint is disabled, its pending deliveries given up, and its
// owners mailed once. A redelivery after it is enabled again keeps the delivery's id.
func TestFailingEndpointDisabledAfterADay(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).Truncate(time.Microsecond)
	tm := newKeyTeam(t, d.App)
	e := hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/down", "member.*")
	for range 2 {
		if err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			return models.EmitEvent(ctx, tn, "member.added", nil, now)
		}); err != nil {
			t.Fatal(err)
		}
	}
	var first string
	attempt := func(at time.Time) *models.WebhookDelivery {
		t.Helper()
		var got *models.WebhookDelivery
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			var ids []string
			if err := tn.Tx().NewSelect().Model((*models.WebhookDelivery)(nil)).Column("id").Order("seq").Scan(ctx, &ids); err != nil {
				return err
			}
			first = ids[0]
			turn, err := models.TakeWebhookTurn(ctx, tn, uuid.MustParse(ids[len(ids)-1]))
			if err != nil || turn.Done || turn.Busy {
				t.Fatalf("turn: %+v, %v", turn, err)
			}
			if turn.Head.ID.String() != first {
				t.Fatalf("head %s; want the earliest delivery %s", turn.Head.ID, first)
			}
			got, err = models.RecordWebhookAttempt(ctx, tn, turn, models.WebhookResult{StatusCode: 503, Latency: 12 * time.Millisecond}, 10*time.Second, at)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	d1 := attempt(now)
	if d1.Status != models.DeliveryPending || !d1.NextAttemptAt.Equal(now.Add(10*time.Second)) || d1.LastError != "answered HTTP 503" {
		t.Fatalf("after one failure: %+v", d1)
	}
	d2 := attempt(now.Add(10 * time.Second))
	if !d2.NextAttemptAt.Equal(now.Add(30*time.Second)) || d2.Attempts != 2 {
		t.Fatalf("after two failures: next %s, attempts %d; want now+30s, 2", d2.NextAttemptAt, d2.Attempts)
	}
	d3 := attempt(now.Add(24*time.Hour + time.Second))
	if d3.Status != models.DeliveryFailed {
		t.Fatalf("a day later: %+v; want failed", d3)
	}
	var ep models.WebhookEndpoint
	var pending, mails, audits int
	ctx := context.Background()
	if err := d.Owner.NewRaw("SELECT disabled_at, disabled_reason FROM webhook_endpoints WHERE id = ?", e.ID).Scan(ctx, &ep.DisabledAt, &ep.DisabledReason); err != nil {
		t.Fatal(err)
	}
	if err := d.Owner.NewRaw(`SELECT (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = ?0 AND status = 'pending'),
		(SELECT count(*) FROM mail_outbox WHERE to_address = ?1 AND subject LIKE 'A webhook endpoint of % was disabled'),
		(SELECT count(*) FROM audit_events WHERE workspace_id = ?2 AND action = 'webhook.disabled')`,
		e.ID, tm.owner.Email, tm.ws.ID).Scan(ctx, &pending, &mails, &audits); err != nil {
		t.Fatal(err)
	}
	if ep.Enabled() || !strings.Contains(ep.DisabledReason, "a day") || pending != 0 || mails != 1 || audits != 1 {
		t.Fatalf("endpoint %+v, %d pending, %d mails, %d audit lines; want disabled, 0, 1, 1", ep, pending, mails, audits)
	}

	owner := tm.actor(tm.owner)
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := models.RedeliverWebhook(ctx, tn, owner, uuid.MustParse(first), now); err == nil {
			t.Error("redelivery to a disabled endpoint was accepted")
		}
		if _, err := models.SetWebhookEndpointEnabled(ctx, tn, owner, e.ID, true, now); err != nil {
			return err
		}
		if _, err := models.RedeliverWebhook(ctx, tn, tm.actor(tm.mia), uuid.MustParse(first), now); err == nil {
			t.Error("a member redelivered")
		}
		r, err := models.RedeliverWebhook(ctx, tn, owner, uuid.MustParse(first), now.Add(25*time.Hour))
		if err != nil {
			return err
		}
		if r.ID.String() != first || r.Status != models.DeliveryPending {
			t.Errorf("redelivered: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := d.Owner.NewRaw("SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery' AND args->>'delivery_id' = ? AND state = 'available'", first).
		Scan(ctx, &jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 2 { // the first, never worked here, and the redelivery's own
		t.Errorf("%d waiting jobs for the delivery after its redelivery; want 2", jobs)
	}
}
