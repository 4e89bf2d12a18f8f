package models

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Retention: what the background sweep (RunRetention, a periodic job of the background worker)
// deletes, and after how long (workspaces deleted by their owners: after DeletionGrace). Nothing on
// a request path deletes old rows. The audit log is pruned per tier (AuditRetention), by removing
// the oldest events of each workspace's hash chain behind a signed checkpoint (pruneAudit). Workspace
// exports go when their link expires (ExportLinkLifetime).
const (
	// Sessions go when they expire (idle or absolute), with their listing in user_sessions. A
	// listing whose session is gone some other way is dropped after SessionOrphanGrace.
	SessionOrphanGrace = 24 * time.Hour
	// LoginFailureRetention keeps failed log-ins, second steps and reset requests a day: the
	// throttles read only the last ThrottleWindow, the rest is for an operator looking into an
	// attack.
	LoginFailureRetention = 24 * time.Hour
	// InvitationGrace keeps an invitation that expired unaccepted (revoked or not) for 30 days
	// after its expiry, so the invitations page still says it expired; accepted ones stay.
	InvitationGrace = 30 * 24 * time.Hour
	// DeliveredMailRetention keeps an outbox row 30 days after it was delivered (its body is
	// erased at delivery already); mail not delivered stays for support.
	DeliveredMailRetention = 30 * 24 * time.Hour
	// UsageHourlyRetention keeps hourly usage 100 days: the usage page's and the CSV's longest
	// range (90 days) and this month's quota read hourly rows; longer history lives in the daily
	// and monthly rollups, which the pruning leaves as they are.
	UsageHourlyRetention = 100 * 24 * time.Hour
	// KeyUsageHourlyRetention keeps each key's hourly counters (calls and refusals) 100 days, like
	// the workspace's: a key's page charts the last 48 hours and the keys list the last 24.
	KeyUsageHourlyRetention = 100 * 24 * time.Hour
	// WebhookDeliveryRetention keeps a finished webhook delivery (succeeded, or given up) 30 days
	// after its last attempt, so the endpoint's page can still show it and offer a redelivery; a
	// delivery still pending or retrying is never pruned. An event goes 30 days after it happened
	// once no delivery of it is left.
	WebhookDeliveryRetention = 30 * 24 * time.Hour
	// QuotaAlertRetentionMonths keeps a quota alert until its period began before the first day
	// of the month 13 months before the current one (UTC): the console lists the last 30 days' alerts, and a year and a month lets an owner compare
	// a month with the same month a year before. The record is also what keeps an alert to once per
	// period, so it must outlive its period (the longest is a month).
	QuotaAlertRetentionMonths = 13

	// RetentionBatch is how many rows one statement deletes; each batch is its own short
	// transaction. RetentionMaxBatches bounds one run per kind of row; the rest waits for the
	// next run.
	RetentionBatch      = 1000
	RetentionMaxBatches = 200
)

// AuditRetentionDays is how long each tier keeps its audit events, in days. An enterprise
// workspace keeps them its own number of days (workspaces.audit_retention_days, set with atrium
// audit retention), AuditRetentionDays[TierEnterprise] by default; 0 keeps them forever.
var AuditRetentionDays = map[Tier]int{TierFree: 30, TierStarter: 90, TierPro: 365, TierEnterprise: 365}

// AuditRetention is how long a workspace of tier t keeps its audit events; configured is an
// enterprise workspace's own setting (nil: the default). ok is false when they are kept forever.
func AuditRetention(t Tier, configured *int) (time.Duration, bool) {
	days := AuditRetentionDays[t]
	if t == TierEnterprise && configured != nil {
		days = *configured
	}
	if days <= 0 {
		return 0, false
	}
	return time.Duration(days) * 24 * time.Hour, true
}

// RetentionEvery is how often the background worker runs the sweep.
const RetentionEvery = time.Hour

// RetentionArgs is the periodic job that runs RunRetention.
type RetentionArgs struct{}

// Kind names the job for the queue.
func (RetentionArgs) Kind() string { return "retention" }

// MaintenanceQueue is the job queue of the background housekeeping (the retention sweep).
const MaintenanceQueue = "maintenance"

// RetentionResult counts what one sweep deleted.
type RetentionResult struct {
	Sessions, SessionListings, LoginFailures, DeliveredMail, Invitations, UsageHours int64
	Workspaces                                                                       int
	// AuditEvents counts the audit events pruned, AuditWorkspaces the workspaces they were in.
	// AuditBroken counts the workspaces whose events due for pruning did not verify: they are
	// kept, as the evidence, and the sweep logs each.
	AuditEvents     int64
	AuditWorkspaces int
	AuditBroken     int
	// Erased counts the workspaces erased for good after their deletion's grace period.
	Erased int
	// QuotaAlerts, WebhookDeliveries, WebhookEvents and KeyUsageHours count the rows of the newer
	// tables pruned (QuotaAlertRetentionMonths, WebhookDeliveryRetention, KeyUsageHourlyRetention).
	QuotaAlerts, WebhookDeliveries, WebhookEvents, KeyUsageHours int64
	// Exports counts workspace exports whose download link expired (ExportLinkLifetime), their
	// zip deleted and the row left as a tombstone, plus the rows deleted (failed builds at their
	// expiry, tombstones ExportTombstoneRetention after it).
	Exports int64
	// FoldedSlots counts the agent-minute slot rows of past hours folded into usage_hourly
	// (FoldTaskMinutes).
	FoldedSlots int64
}

// FoldTaskMinutes moves the agent-minutes that completions on tiers without an agent-minute limit
// left in the slots of hours before now's (usage_minutes_slots, migration 20261201011101) into
// those hours' usage_hourly rows, each workspace in its own transaction and one statement, so
// that a reader never sees the minutes twice or not at all. Readers count the slots too, so this
// keeps the table small rather than the figures exact; the retention sweep runs it, every
// RetentionEvery. It answers the slot rows folded.
func FoldTaskMinutes(ctx context.Context, db bun.IDB, now time.Time) (int64, error) {
	before := now.UTC().Truncate(time.Hour)
	var total int64
	for range RetentionMaxBatches {
		var ids []uuid.UUID
		if err := db.NewRaw("SELECT * FROM atrium_slot_workspaces(?, ?)", before, RetentionBatch).Scan(ctx, &ids); err != nil {
			return total, fmt.Errorf("workspaces with minute slots: %w", err)
		}
		for _, ws := range ids {
			err := InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
				var n int64
				if err := tn.db().NewRaw("SELECT atrium_fold_task_minutes(?, ?)", ws, before).Scan(ctx, &n); err != nil {
					return fmt.Errorf("fold minute slots: %w", err)
				}
				total += n
				return nil
			})
			if err != nil {
				return total, err
			}
		}
		if len(ids) < RetentionBatch {
			break
		}
	}
	return total, nil
}

// RunRetention deletes, at now, what the retention periods above let go, in batches of
// RetentionBatch rows. The global tables are swept directly; the tenant tables inside each
// workspace's own transaction (InWorkspace), the workspaces with something to delete named by the
// SECURITY DEFINER function atrium_retention_workspaces. Pruned hourly usage stays counted in the
// daily and monthly rollups.
func RunRetention(ctx context.Context, db bun.IDB, now time.Time) (RetentionResult, error) {
	var r RetentionResult
	var err error
	if r.Sessions, err = sweep(ctx, db, `WITH gone AS (
		  DELETE FROM sessions WHERE token IN (SELECT token FROM sessions WHERE expiry < ? LIMIT ?) RETURNING token),
		listed AS (DELETE FROM user_sessions WHERE token IN (SELECT token FROM gone))
		SELECT count(*) FROM gone`, now, RetentionBatch); err != nil {
		return r, fmt.Errorf("expired sessions: %w", err)
	}
	if r.SessionListings, err = sweep(ctx, db, `WITH gone AS (
		  DELETE FROM user_sessions WHERE id IN (SELECT u.id FROM user_sessions AS u
		    WHERE u.last_seen_at < ? AND NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.token = u.token) LIMIT ?) RETURNING 1)
		SELECT count(*) FROM gone`, now.Add(-SessionOrphanGrace), RetentionBatch); err != nil {
		return r, fmt.Errorf("session listings: %w", err)
	}
	if r.LoginFailures, err = sweep(ctx, db, `WITH gone AS (
		  DELETE FROM login_failures WHERE ctid IN (SELECT ctid FROM login_failures WHERE at < ? LIMIT ?) RETURNING 1)
		SELECT count(*) FROM gone`, now.Add(-LoginFailureRetention), RetentionBatch); err != nil {
		return r, fmt.Errorf("login failures: %w", err)
	}
	if r.DeliveredMail, err = sweep(ctx, db, `WITH gone AS (
		  DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at < ? LIMIT ?) RETURNING 1)
		SELECT count(*) FROM gone`, now.Add(-DeliveredMailRetention), RetentionBatch); err != nil {
		return r, fmt.Errorf("delivered mail: %w", err)
	}
	if r.Erased, err = EraseDeletedWorkspaces(ctx, db, now); err != nil {
		return r, err
	}
	if r.FoldedSlots, err = FoldTaskMinutes(ctx, db, now); err != nil {
		return r, err
	}
	hourBefore, inviteBefore := now.Add(-UsageHourlyRetention), now.Add(-InvitationGrace)
	seen := map[uuid.UUID]bool{}
	for range RetentionMaxBatches {
		var ids []uuid.UUID
		if err := db.NewRaw("SELECT * FROM atrium_retention_workspaces(?, ?, ?)", hourBefore, inviteBefore, RetentionBatch).
			Scan(ctx, &ids); err != nil {
			return r, fmt.Errorf("workspaces to sweep: %w", err)
		}
		progress := false
		for _, ws := range ids {
			inv, hours, err := pruneWorkspace(ctx, db, ws, hourBefore, inviteBefore)
			if err != nil {
				return r, err
			}
			r.Invitations += inv
			r.UsageHours += hours
			if inv+hours > 0 {
				progress = true
				if !seen[ws] {
					seen[ws] = true
					r.Workspaces++
				}
			}
		}
		if len(ids) == 0 || !progress {
			break
		}
	}
	if err := pruneEventTables(ctx, db, now, &r); err != nil {
		return r, err
	}
	for range RetentionMaxBatches {
		var ids []uuid.UUID
		if err := db.NewRaw("SELECT * FROM atrium_expired_export_workspaces(?, ?, ?)", now, now.Add(-ExportTombstoneRetention),
			RetentionBatch).Scan(ctx, &ids); err != nil {
			return r, fmt.Errorf("workspaces with expired exports: %w", err)
		}
		var gone int64
		for _, ws := range ids {
			n, err := pruneExports(ctx, db, ws, now)
			if err != nil {
				return r, err
			}
			gone += n
		}
		r.Exports += gone
		if len(ids) < RetentionBatch || gone == 0 {
			break
		}
	}
	if err := pruneAuditLogs(ctx, db, now, &r); err != nil {
		return r, err
	}
	return r, nil
}

// pruneAuditLogs applies the tiers' audit retention to every workspace with events past it.
func pruneAuditLogs(ctx context.Context, db bun.IDB, now time.Time, r *RetentionResult) error {
	seen, skip := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for range RetentionMaxBatches {
		var ids []uuid.UUID
		if err := db.NewRaw("SELECT * FROM atrium_audit_retention_workspaces(?, ?, ?, ?, ?, ?)", now,
			AuditRetentionDays[TierFree], AuditRetentionDays[TierStarter], AuditRetentionDays[TierPro],
			AuditRetentionDays[TierEnterprise], RetentionBatch).Scan(ctx, &ids); err != nil {
			return fmt.Errorf("workspaces to prune the audit log of: %w", err)
		}
		progress := false
		for _, ws := range ids {
			if skip[ws] {
				continue
			}
			n, brk, err := pruneAudit(ctx, db, ws, now)
			if err != nil {
				return err
			}
			if brk != nil {
				skip[ws] = true
				r.AuditBroken++
				slog.ErrorContext(ctx, "audit chain broken: retention keeps the events it would prune", "workspace", ws.String(), "break", brk.Error())
				continue
			}
			if n == 0 {
				skip[ws] = true // the oldest event is within retention; later ones out of order wait for it
				continue
			}
			r.AuditEvents += n
			progress = true
			if !seen[ws] {
				seen[ws] = true
				r.AuditWorkspaces++
			}
		}
		if len(ids) == 0 || !progress {
			break
		}
	}
	return nil
}

// pruneAudit removes, in the workspace's own transaction, up to RetentionBatch of its oldest audit
// events that are past its tier's retention: the chain's prefix up to the first event still within
// it. It verifies them first (from the last checkpoint), so pruning never launders a broken chain:
// a break is returned and nothing is removed. The last event removed becomes the workspace's
// checkpoint, signed with the audit key, where verification starts from then on.
func pruneAudit(ctx context.Context, db bun.IDB, ws uuid.UUID, now time.Time) (n int64, brk *ChainBreak, err error) {
	err = InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		var w struct {
			Tier Tier `bun:"tier"`
			Days *int `bun:"audit_retention_days"`
		}
		if err := tn.db().NewRaw("SELECT tier, audit_retention_days FROM workspaces WHERE id = ?", ws).Scan(ctx, &w.Tier, &w.Days); err != nil {
			return fmt.Errorf("workspace's audit retention: %w", err)
		}
		keep, ok := AuditRetention(w.Tier, w.Days)
		if !ok {
			return nil
		}
		before := now.Add(-keep)
		cp, err := readCheckpoint(ctx, tn)
		if err != nil {
			return err
		}
		v := &chainVerifier{ws: ws}
		if brk = v.start(cp); brk != nil {
			return nil
		}
		evs, err := readChain(ctx, tn, v.nextSeq-1, RetentionBatch)
		if err != nil {
			return err
		}
		var last *ChainEvent
		for i := range evs {
			e := &evs[i]
			if !e.CreatedAt.Before(before) {
				break
			}
			if brk = v.check(e); brk != nil {
				return nil
			}
			last = e
		}
		if last == nil {
			return nil
		}
		sig := auditMAC(checkpointMessage(ws, last.Seq, last.Hash))
		if err := tn.db().NewRaw("SELECT atrium_audit_prune(?, ?, ?, ?, ?)", ws, last.Seq, last.Hash, sig, now).Scan(ctx, &n); err != nil {
			return fmt.Errorf("prune the audit log: %w", err)
		}
		return nil
	})
	return n, brk, err
}

// sweep runs a batch delete (a statement that deletes at most a batch and returns the count)
// until a batch comes back short, at most RetentionMaxBatches times.
func sweep(ctx context.Context, db bun.IDB, query string, args ...any) (int64, error) {
	var total int64
	for range RetentionMaxBatches {
		var n int64
		if err := db.NewRaw(query, args...).Scan(ctx, &n); err != nil {
			return total, err
		}
		total += n
		if n < RetentionBatch {
			break
		}
	}
	return total, nil
}

// pruneWorkspace deletes one batch of each tenant table's old rows in the workspace's own
// transaction. The transaction says it is pruning (atrium.retention), so the hourly rows' delete
// triggers leave the daily and monthly rollups as they are.
func pruneWorkspace(ctx context.Context, db bun.IDB, ws uuid.UUID, hourBefore, inviteBefore time.Time) (invitations, hours int64, err error) {
	err = InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		tx := tn.Tx()
		if _, err := tx.ExecContext(ctx, "SELECT set_config('atrium.retention', 'on', true)"); err != nil {
			return err
		}
		if err := tx.NewRaw(`WITH gone AS (
			  DELETE FROM invitations WHERE workspace_id = ?0 AND id IN (SELECT id FROM invitations
			    WHERE workspace_id = ?0 AND accepted_at IS NULL AND expires_at < ?1 LIMIT ?2) RETURNING 1)
			SELECT count(*) FROM gone`, ws, inviteBefore, RetentionBatch).Scan(ctx, &invitations); err != nil {
			return fmt.Errorf("expired invitations: %w", err)
		}
		if err := tx.NewRaw(`WITH gone AS (
			  DELETE FROM usage_hourly WHERE workspace_id = ?0 AND hour IN (SELECT hour FROM usage_hourly
			    WHERE workspace_id = ?0 AND hour < ?1 ORDER BY hour LIMIT ?2) RETURNING 1)
			SELECT count(*) FROM gone`, ws, hourBefore, RetentionBatch).Scan(ctx, &hours); err != nil {
			return fmt.Errorf("old hourly usage: %w", err)
		}
		return nil
	})
	return invitations, hours, err
}

// pruneEventTables prunes the quota alerts, webhook deliveries and events, and per-key hourly
// counters past their retention, batch by batch in each workspace's own transaction, the
// workspaces named by atrium_retention_event_workspaces.
func pruneEventTables(ctx context.Context, db bun.IDB, now time.Time, r *RetentionResult) error {
	// From the month's first instant: AddDate on the 31st of a month would overshoot into the
	// next month (31 November is 1 December) and prune a month early.
	alertBefore := MonthStart(now).AddDate(0, -QuotaAlertRetentionMonths, 0)
	deliveryBefore, keyHourBefore := now.Add(-WebhookDeliveryRetention), now.Add(-KeyUsageHourlyRetention)
	for range RetentionMaxBatches {
		var ids []uuid.UUID
		if err := db.NewRaw("SELECT * FROM atrium_retention_event_workspaces(?, ?, ?, ?)", alertBefore, deliveryBefore, keyHourBefore,
			RetentionBatch).Scan(ctx, &ids); err != nil {
			return fmt.Errorf("workspaces to prune alerts, webhooks and key usage of: %w", err)
		}
		progress := false
		for _, ws := range ids {
			var n [4]int64
			err := InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
				tx := tn.Tx()
				for i, q := range []struct{ what, sql string }{
					{"quota alerts", `WITH gone AS (
					  DELETE FROM quota_alerts WHERE (workspace_id, limit_kind, threshold, period_start) IN (
					    SELECT workspace_id, limit_kind, threshold, period_start FROM quota_alerts
					    WHERE workspace_id = ?0 AND period_start < ?1 LIMIT ?4) RETURNING 1)
					SELECT count(*) FROM gone`},
					{"webhook deliveries", `WITH gone AS (
					  DELETE FROM webhook_deliveries WHERE workspace_id = ?0 AND id IN (SELECT id FROM webhook_deliveries
					    WHERE workspace_id = ?0 AND status <> 'pending' AND coalesce(last_attempt_at, created_at) < ?2 LIMIT ?4) RETURNING 1)
					SELECT count(*) FROM gone`},
					{"webhook events", `WITH gone AS (
					  DELETE FROM webhook_events WHERE workspace_id = ?0 AND id IN (SELECT e.id FROM webhook_events AS e
					    WHERE e.workspace_id = ?0 AND e.created_at < ?2
					      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.workspace_id = ?0 AND d.event_id = e.id)
					    LIMIT ?4) RETURNING 1)
					SELECT count(*) FROM gone`},
					{"key usage hours", `WITH gone AS (
					  DELETE FROM api_key_usage_hourly WHERE (workspace_id, key_id, hour) IN (
					    SELECT workspace_id, key_id, hour FROM api_key_usage_hourly
					    WHERE workspace_id = ?0 AND hour < ?3 LIMIT ?4) RETURNING 1)
					SELECT count(*) FROM gone`},
				} {
					if err := tx.NewRaw(q.sql, ws, alertBefore, deliveryBefore, keyHourBefore, RetentionBatch).Scan(ctx, &n[i]); err != nil {
						return fmt.Errorf("old %s: %w", q.what, err)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			r.QuotaAlerts += n[0]
			r.WebhookDeliveries += n[1]
			r.WebhookEvents += n[2]
			r.KeyUsageHours += n[3]
			if n[0]+n[1]+n[2]+n[3] > 0 {
				progress = true
			}
		}
		if len(ids) == 0 || !progress {
			break
		}
	}
	return nil
}
