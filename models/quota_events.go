package models

import (
	"context"
	"time"
)

// emitQuotaEvent records the webhook event quota.threshold_crossed of alert a in the tenant's
// transaction (the one that marks the alert notified, so the event is emitted once).
func emitQuotaEvent(ctx context.Context, tn *Tenant, a *QuotaAlert, now time.Time) error {
	return EmitEvent(ctx, tn, "quota.threshold_crossed", quotaAlertEvent(a), now)
}
