package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Webhook event types. A workspace's endpoints subscribe to exact types or to a family
// ("member.*"); EmitEvent records an event for the endpoints that take it.
//
//	member.added, member.role_changed, member.removed
//	invitation.created, invitation.accepted, invitation.revoked
//	api_key.created, api_key.rolled, api_key.revoked
//	task.started, task.completed, task.cancelled (emitted by triggers on tasks)
//	quota.threshold_crossed, quota.refused
//	workspace.tier_changed, workspace.deleted
//	audit.event (every audit log line)
var WebhookEventTypes = []string{
	"member.added", "member.role_changed", "member.removed",
	"invitation.created", "invitation.accepted", "invitation.revoked",
	"api_key.created", "api_key.rolled", "api_key.revoked",
	"task.started", "task.completed", "task.cancelled",
	"quota.threshold_crossed", "quota.refused",
	"workspace.tier_changed", "workspace.deleted",
	"audit.event",
}

// WebhookEventFamilies are the families of WebhookEventTypes, in order ("member", "invitation", …).
func WebhookEventFamilies() []string {
	var out []string
	for _, t := range WebhookEventTypes {
		f, _, _ := strings.Cut(t, ".")
		if len(out) == 0 || out[len(out)-1] != f {
			out = append(out, f)
		}
	}
	return out
}

// EmitEvent records an event of type typ (one of WebhookEventTypes) with its data at now, in the
// tenant's transaction, so that it exists exactly when the change that causes it commits: one
// pending delivery and one delivery job per enabled endpoint of the workspace subscribed to the
// type. It is one statement (atrium_emit_event); when no endpoint takes the type it writes nothing.
// data is encoded as JSON and becomes the delivery body's "data".
func EmitEvent(ctx context.Context, tn *Tenant, typ string, data map[string]any, now time.Time) error {
	if tn.readOnly {
		return errors.New("emit event: read-only transaction")
	}
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	if _, err := tn.db().ExecContext(ctx, "SELECT atrium_emit_event(?, ?, ?, ?::jsonb, ?)",
		tn.ws, NewID(), typ, string(b), now.UTC().Truncate(time.Microsecond)); err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	return nil
}
