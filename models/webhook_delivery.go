package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// WebhookQueue is the job queue of webhook deliveries.
const WebhookQueue = "webhooks"

// WebhookArgs is the job that sends one delivery (and, holding its endpoint's turn, the ones
// after it that are due). atrium_emit_event and RedeliverWebhook insert it.
type WebhookArgs struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	DeliveryID  uuid.UUID `json:"delivery_id"`
}

// Kind names the job for the queue.
func (WebhookArgs) Kind() string { return "webhook_delivery" }

// Webhook retry rules: a delivery is retried with exponential backoff (base·2^(n-1), at most
// WebhookMaxBackoff) for WebhookRetryFor from its event (or its redelivery); an endpoint whose
// every attempt failed for WebhookDisableAfter is disabled and its owners are emailed.
const (
	WebhookRetryFor     = 24 * time.Hour
	WebhookDisableAfter = 24 * time.Hour
	WebhookMaxBackoff   = time.Hour
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is one event's delivery to one endpoint and how its attempts went.
type WebhookDelivery struct {
	bun.BaseModel `bun:"table:webhook_deliveries,alias:wd"`
	Scoped

	ID             uuid.UUID  `bun:"id,pk,type:uuid" json:"id"`
	EndpointID     uuid.UUID  `bun:"endpoint_id,type:uuid" json:"endpoint_id"`
	EventID        uuid.UUID  `bun:"event_id,type:uuid" json:"event_id"`
	Seq            int64      `bun:"seq" json:"seq"`
	Status         string     `bun:"status" json:"status"`
	CreatedAt      time.Time  `bun:"created_at" json:"created_at"`
	RetryFrom      time.Time  `bun:"retry_from" json:"retry_from"`
	NextAttemptAt  time.Time  `bun:"next_attempt_at" json:"next_attempt_at"`
	Attempts       int        `bun:"attempts" json:"attempts"`
	LastAttemptAt  *time.Time `bun:"last_attempt_at" json:"last_attempt_at"`
	LastStatusCode *int       `bun:"last_status_code" json:"last_status_code"`
	LastLatencyMS  *int       `bun:"last_latency_ms" json:"last_latency_ms"`
	LastError      string     `bun:"last_error" json:"last_error"`
	DeliveredAt    *time.Time `bun:"delivered_at" json:"delivered_at"`

	// The event's type, for lists (filled by WebhookDeliveries).
	EventType string `bun:"event_type,scanonly" json:"event_type"`
}

// WebhookEvent is an event as recorded by EmitEvent.
type WebhookEvent struct {
	bun.BaseModel `bun:"table:webhook_events,alias:wv"`
	Scoped

	ID        uuid.UUID       `bun:"id,pk,type:uuid"`
	Seq       int64           `bun:"seq"`
	Type      string          `bun:"type"`
	Data      json.RawMessage `bun:"data,type:jsonb"`
	CreatedAt time.Time       `bun:"created_at"`
}

// Body is the delivery's JSON body: {"type", "timestamp", "data"}.
func (v *WebhookEvent) Body() []byte {
	b, _ := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{v.Type, v.CreatedAt.UTC().Format(time.RFC3339Nano), v.Data})
	return b
}

// WebhookTurn is what a delivery job finds when it asks for its endpoint's turn.
type WebhookTurn struct {
	// Busy: another worker holds the endpoint's turn now.
	Busy bool
	// Done: the job's own delivery is no longer pending (sent, given up, or gone).
	Done bool
	// Endpoint and Head, its oldest pending delivery with Event, when neither Busy nor Done.
	Endpoint *WebhookEndpoint
	Head     *WebhookDelivery
	Event    *WebhookEvent
}

// TakeWebhookTurn takes delivery id's endpoint's turn for the rest of the tenant's transaction
// (a transaction-level advisory lock, so one delivery of an endpoint is under way at a time, in
// every process) and finds the endpoint's oldest pending delivery: deliveries of an endpoint go
// out in the order of their events, a later one only once the earlier ones succeeded or were given
// up.
func TakeWebhookTurn(ctx context.Context, tn *Tenant, id uuid.UUID) (*WebhookTurn, error) {
	own := new(WebhookDelivery)
	err := tn.db().NewSelect().Model(own).Column("endpoint_id", "status").Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return &WebhookTurn{Done: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if own.Status != DeliveryPending {
		return &WebhookTurn{Done: true}, nil
	}
	var got bool
	if err := tn.db().QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0))",
		"webhook-endpoint:"+own.EndpointID.String()).Scan(&got); err != nil {
		return nil, fmt.Errorf("webhook turn: %w", err)
	}
	if !got {
		return &WebhookTurn{Busy: true}, nil
	}
	e, err := WebhookEndpointByID(ctx, tn, own.EndpointID)
	if errors.Is(err, ErrNotFound) {
		return &WebhookTurn{Done: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if !e.Enabled() {
		return &WebhookTurn{Done: true}, nil
	}
	head := new(WebhookDelivery)
	err = tn.db().NewSelect().Model(head).Where("endpoint_id = ? AND status = ?", e.ID, DeliveryPending).
		Order("seq", "id").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return &WebhookTurn{Done: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("next delivery: %w", err)
	}
	ev := new(WebhookEvent)
	if err := tn.db().NewSelect().Model(ev).Where("id = ?", head.EventID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("webhook event: %w", err)
	}
	return &WebhookTurn{Endpoint: e, Head: head, Event: ev}, nil
}

// WebhookResult is how one attempt went.
type WebhookResult struct {
	StatusCode int // 0 when no answer came
	Latency    time.Duration
	Err        string // why it failed when no answer came
}

// OK reports whether the receiver took the delivery (a 2xx answer).
func (r WebhookResult) OK() bool { return r.Err == "" && r.StatusCode >= 200 && r.StatusCode < 300 }

func (r WebhookResult) problem() string {
	switch {
	case r.Err != "":
		if len(r.Err) > 500 {
			return r.Err[:500]
		}
		return r.Err
	case r.OK():
		return ""
	}
	return fmt.Sprintf("answered HTTP %d", r.StatusCode)
}

// WebhookBackoff is the wait after the n-th failed attempt (n ≥ 1): base·2^(n-1), at most
// WebhookMaxBackoff.
func WebhookBackoff(base time.Duration, n int) time.Duration {
	wait := base
	for i := 1; i < n && wait < WebhookMaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, WebhookMaxBackoff)
}

// RecordWebhookAttempt records attempt r of the turn's head delivery at now, in the transaction
// that holds the turn. A failure schedules the next attempt (WebhookBackoff from base), or gives
// the delivery up after WebhookRetryFor; an endpoint that failed for WebhookDisableAfter is
// disabled, its pending deliveries given up and its owners emailed. It returns the delivery as
// recorded.
func RecordWebhookAttempt(ctx context.Context, tn *Tenant, turn *WebhookTurn, r WebhookResult, base time.Duration, now time.Time) (*WebhookDelivery, error) {
	now = now.UTC().Truncate(time.Microsecond)
	d, e := turn.Head, turn.Endpoint
	code := &r.StatusCode
	if r.StatusCode == 0 {
		code = nil
	}
	ms := int(r.Latency / time.Millisecond)
	q := tn.db().NewUpdate().Model(d).Set("attempts = attempts + 1").Set("last_attempt_at = ?", now).
		Set("last_status_code = ?", code).Set("last_latency_ms = ?", ms).Set("last_error = ?", r.problem()).
		WherePK().Where("status = ?", DeliveryPending)
	if r.OK() {
		q = q.Set("status = ?", DeliverySucceeded).Set("delivered_at = ?", now)
	} else if !now.Before(d.RetryFrom.Add(WebhookRetryFor)) {
		q = q.Set("status = ?", DeliveryFailed)
	} else {
		q = q.Set("next_attempt_at = ?", now.Add(WebhookBackoff(base, d.Attempts+1)))
	}
	if _, err := q.Returning("*").Exec(ctx); err != nil {
		return nil, fmt.Errorf("record delivery: %w", err)
	}
	if r.OK() {
		if e.FailingSince != nil {
			_, err := tn.db().NewUpdate().Model(e).Set("failing_since = NULL").WherePK().Exec(ctx)
			return d, err
		}
		return d, nil
	}
	if e.FailingSince == nil {
		_, err := tn.db().NewUpdate().Model(e).Set("failing_since = ?", now).WherePK().Returning("*").Exec(ctx)
		return d, err
	}
	if now.Before(e.FailingSince.Add(WebhookDisableAfter)) {
		return d, nil
	}
	return d, disableFailingEndpoint(ctx, tn, e, now)
}

// disableFailingEndpoint disables e after a day of failures, gives up its pending deliveries and
// mails the workspace's owners, once.
func disableFailingEndpoint(ctx context.Context, tn *Tenant, e *WebhookEndpoint, now time.Time) error {
	res, err := tn.db().NewUpdate().Model(e).Set("disabled_at = ?", now).
		Set("disabled_reason = ?", "Every delivery failed for a day.").WherePK().Where("disabled_at IS NULL").Exec(ctx)
	if err != nil {
		return fmt.Errorf("disable endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	if _, err := tn.db().NewUpdate().Model((*WebhookDelivery)(nil)).Set("status = ?", DeliveryFailed).
		Set("last_error = CASE WHEN last_error = '' THEN 'endpoint disabled' ELSE last_error END").
		Where("endpoint_id = ? AND status = ?", e.ID, DeliveryPending).Exec(ctx); err != nil {
		return fmt.Errorf("give up deliveries: %w", err)
	}
	var ws Workspace
	if err := tn.db().NewSelect().Model(&ws).Column("name", "slug").Where("id = ?", tn.ws).Scan(ctx); err != nil {
		return fmt.Errorf("disable endpoint: %w", err)
	}
	var owners []string
	if err := tn.db().NewSelect().Model((*Member)(nil)).ColumnExpr("u.email").Join("JOIN users AS u ON u.id = m.user_id").
		Where("m.role = ?", RoleOwner).Order("u.email").Scan(ctx, &owners); err != nil {
		return fmt.Errorf("endpoint owners: %w", err)
	}
	for _, to := range owners {
		m := Mail{To: to, Subject: fmt.Sprintf("A webhook endpoint of %s was disabled", ws.Name),
			Body: fmt.Sprintf("Every delivery to the webhook endpoint\n%s\nof the workspace %s (%s) failed for a day, so Atrium disabled it on %s.\n\n"+
				"Its last error: %s\n\n"+
				"Fix the receiver, then enable the endpoint again under Settings → Webhooks; events from now on are delivered again, and past ones can be redelivered from the endpoint's list.\n",
				e.URL, ws.Name, ws.Slug, now.Format("Jan 2, 2006 15:04 UTC"), lastError(ctx, tn, e.ID))}
		if err := QueueWorkspaceMail(ctx, tn, fmt.Sprintf("webhook-disabled:%s:%d:%s", e.ID, now.UnixMicro(), to), m, now); err != nil {
			return err
		}
	}
	return Record(ctx, tn, Event{At: now, Action: "webhook.disabled", Target: e.ID.String(),
		Details: map[string]any{"url": e.URL, "reason": "every delivery failed for a day"}})
}

func lastError(ctx context.Context, tn *Tenant, endpoint uuid.UUID) string {
	var s string
	_ = tn.db().NewSelect().Model((*WebhookDelivery)(nil)).Column("last_error").
		Where("endpoint_id = ? AND last_attempt_at IS NOT NULL", endpoint).OrderExpr("last_attempt_at DESC").Limit(1).Scan(ctx, &s)
	if s == "" {
		return "(none recorded)"
	}
	return s
}

// WebhookDeliveries lists an endpoint's deliveries, newest event first, limit at a time; before
// (a seq, 0 for the first page) pages on.
func WebhookDeliveries(ctx context.Context, tn *Tenant, endpoint uuid.UUID, before int64, limit int) ([]WebhookDelivery, error) {
	var out []WebhookDelivery
	q := tn.db().NewSelect().Model(&out).ColumnExpr("wd.*").
		ColumnExpr("(SELECT v.type FROM webhook_events AS v WHERE v.workspace_id = wd.workspace_id AND v.id = wd.event_id) AS event_type").
		Where("wd.endpoint_id = ?", endpoint).Order("wd.seq DESC").Limit(int64(limit))
	if before > 0 {
		q = q.Where("wd.seq < ?", before)
	}
	err := q.Scan(ctx)
	return out, err
}

// RedeliverWebhook sends a delivery again, with the same id (receivers deduplicate on it): it
// becomes pending, retried for a day from now, and goes out in its event's place in the
// endpoint's order. The endpoint must be enabled. Audited (webhook.redeliver).
func RedeliverWebhook(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, now time.Time) (*WebhookDelivery, error) {
	if err := canManageHooks(actor); err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	d := new(WebhookDelivery)
	if err := tn.db().NewSelect().Model(d).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "delivery")
	}
	e, err := WebhookEndpointByID(ctx, tn, d.EndpointID)
	if err != nil {
		return nil, err
	}
	if !e.Enabled() {
		return nil, Errorf(ErrConflict, "The endpoint is disabled; enable it before redelivering.")
	}
	if _, err := tn.db().NewUpdate().Model(d).Set("status = ?", DeliveryPending).Set("retry_from = ?", now).
		Set("next_attempt_at = ?", now).Set("delivered_at = NULL").WherePK().Returning("*").Exec(ctx); err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	if _, err := tn.db().ExecContext(ctx, "SELECT atrium_queue_webhook(?, ?, ?)", tn.ws, d.ID, fmt.Sprint(now.UnixMicro())); err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	return d, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "webhook.redeliver", Target: d.ID.String(),
		Details: map[string]any{"endpoint": e.URL}})
}

// WebhookEndpointWithDeliveries loads an endpoint of the workspace with a page of its
// deliveries (as WebhookDeliveries), in one statement.
func WebhookEndpointWithDeliveries(ctx context.Context, tn *Tenant, id uuid.UUID, before int64, limit int) (*WebhookEndpoint, []WebhookDelivery, error) {
	var row struct {
		WebhookEndpoint `bun:",extend"`
		Deliveries      string `bun:"deliveries"`
	}
	err := tn.db().NewSelect().Model(&row).ColumnExpr("we.*").
		ColumnExpr(`(SELECT coalesce(json_agg(x ORDER BY x.seq DESC), '[]') FROM (
			SELECT wd.id, wd.endpoint_id, wd.event_id, wd.seq, wd.status, wd.created_at, wd.retry_from, wd.next_attempt_at,
				wd.attempts, wd.last_attempt_at, wd.last_status_code, wd.last_latency_ms, wd.last_error, wd.delivered_at, v.type AS event_type
			FROM webhook_deliveries AS wd JOIN webhook_events AS v ON v.workspace_id = wd.workspace_id AND v.id = wd.event_id
			WHERE wd.workspace_id = we.workspace_id AND wd.endpoint_id = we.id AND (?0 = 0 OR wd.seq < ?0)
			ORDER BY wd.seq DESC LIMIT ?1) AS x)::text AS deliveries`, before, limit).
		Where("we.id = ?", id).Scan(ctx)
	if err != nil {
		return nil, nil, notFound(err, "webhook endpoint")
	}
	var out []WebhookDelivery
	if err := json.Unmarshal([]byte(row.Deliveries), &out); err != nil {
		return nil, nil, fmt.Errorf("deliveries: %w", err)
	}
	for i := range out {
		out[i].WorkspaceID = tn.ws
	}
	return &row.WebhookEndpoint, out, nil
}
