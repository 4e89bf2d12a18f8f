package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// UsageHour is one workspace's metered use in one UTC hour.
type UsageHour struct {
	bun.BaseModel `bun:"table:usage_hourly,alias:uh"`
	Scoped

	Hour         time.Time `bun:"hour,pk"`
	APICalls     int64     `bun:"api_calls"`
	AgentMinutes int64     `bun:"agent_minutes"`
}

// MonthStart is the first instant of t's calendar month in UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Snapshot is a workspace's current use against its tier's limits.
type Snapshot struct {
	Tier              Tier
	Limits            TierLimits
	PeriodStart       time.Time // this calendar month, UTC
	PeriodEnd         time.Time
	HourStart         time.Time
	AgentMinutesMonth int64
	APICallsHour      int64
	RunningTasks      int64
	Members           int64 // members plus pending invitations: both hold a seat
	APICallsMonth     int64 // this calendar month's API calls
	MemberCount       int64 // members alone
	Agents            int64
	// Alerts are the quota alerts of the periods running at the snapshot's time, newest first.
	Alerts []QuotaAlert
}

// HourResets is when the hourly API-call count starts again.
func (s *Snapshot) HourResets() time.Time { return s.HourStart.Add(time.Hour) }

// CurrentUsage measures the tenant's workspace now, in one statement. It runs inside the
// workspace's transaction.
//
// Every figure reads a row or an index range of the workspace's current state, never its history:
// the month's agent-minutes one row of usage_monthly, its API calls the month's days of
// usage_daily (at most 31 rows, not up to 744 hourly ones), this hour's calls one row of
// usage_hourly, the running tasks tasks_running_id_idx, the members one row of
// workspace_member_counts (kept by triggers, not a count of every member through row-level
// security's policy), the pending invitations invitations_pending_email_idx, and the agents. Each
// names workspace_id itself: under row-level security only a leakproof comparison can be an index
// condition, and uuid and timestamptz comparisons are.
func CurrentUsage(ctx context.Context, tn *Tenant, tier Tier, now time.Time) (*Snapshot, error) {
	s, _, _, err := currentUsage(ctx, tn, tier, now, time.Time{}, time.Time{}, false)
	return s, err
}

// SettingsRead is CurrentUsage with the workspace's newest export (nil when there is none), in
// the same one statement, for the settings page.
func SettingsRead(ctx context.Context, tn *Tenant, tier Tier, now time.Time) (*Snapshot, *WorkspaceExport, error) {
	s, _, raw, err := currentUsage(ctx, tn, tier, now, time.Time{}, time.Time{}, true)
	if err != nil || len(raw) == 0 {
		return s, nil, err
	}
	e := new(WorkspaceExport)
	if err := json.Unmarshal(raw, e); err != nil {
		return nil, nil, fmt.Errorf("latest export: %w", err)
	}
	e.WorkspaceID = tn.ws
	return s, e, nil
}

// runningTasksSQL counts the running tasks of workspace $1 (queryRowWith's planned statement).
// Planned with the workspace's id, it reads the running tasks' partial index; a generic plan, made
// for an average workspace, can read every task of a busy one instead (see queryRowPlanned).
const runningTasksSQL = `SELECT count(*) FROM tasks WHERE workspace_id = $1 AND status = 'running'`

// usageNowColumns are a snapshot's figures but the running tasks (runningTasksSQL), in
// Snapshot.nowDest's order: $1 is the workspace, $2 and $3 the month's first instant and the next
// month's, $4 this hour, $5 now. Days and hours never straddle months (UTC), so the month's days
// hold exactly its hours.
const usageNowColumns = `atrium_month_minutes($1, $2),
		  coalesce((SELECT api_calls FROM usage_hourly WHERE workspace_id = $1 AND hour = $4), 0),
		  (SELECT coalesce(sum(api_calls), 0) FROM usage_daily WHERE workspace_id = $1 AND day >= $2 AND day < $3),
		  coalesce((SELECT members FROM workspace_member_counts WHERE workspace_id = $1), 0),
		  (SELECT count(*) FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $5),
		  (SELECT count(*) FROM agents WHERE workspace_id = $1)`

// usageAlertsColumn is the quota alerts of the month ($2) as JSON (Snapshot.finish reads them).
const usageAlertsColumn = `(SELECT coalesce(jsonb_agg(jsonb_build_object('limit_kind', limit_kind, 'threshold', threshold, 'period_start', period_start,
		      'used', used, 'limit_value', limit_value, 'crossed_at', crossed_at) ORDER BY crossed_at DESC, limit_kind, threshold DESC), '[]')
		    FROM quota_alerts WHERE workspace_id = $1 AND crossed_at >= $2 AND period_start >= $2)`

// newSnapshot is a snapshot of tier at now with its periods, before its figures are read.
func newSnapshot(tier Tier, now time.Time) *Snapshot {
	s := &Snapshot{Tier: tier, Limits: tier.Limits(), PeriodStart: MonthStart(now), HourStart: now.UTC().Truncate(time.Hour)}
	s.PeriodEnd = s.PeriodStart.AddDate(0, 1, 0)
	return s
}

// nowArgs are the arguments of usageNowColumns and usageAlertsColumn ($1 to $5).
func (s *Snapshot) nowArgs(ws uuid.UUID, now time.Time) []any {
	return []any{ws, s.PeriodStart, s.PeriodEnd, s.HourStart, now}
}

// nowDest are the destinations of usageNowColumns; pending takes the pending invitations.
func (s *Snapshot) nowDest(pending *int64) []any {
	return []any{&s.AgentMinutesMonth, &s.APICallsHour, &s.APICallsMonth, &s.MemberCount, pending, &s.Agents}
}

// finish completes the snapshot with the pending invitations and the alerts as read.
func (s *Snapshot) finish(pending int64, alerts []byte, now time.Time) error {
	if err := s.currentAlerts(alerts, now); err != nil {
		return err
	}
	s.Members = s.MemberCount + pending
	return nil
}

// currentUsage is CurrentUsage; when from is set, the same statement also reads the daily rollup's
// rows of the days from..to (midnights UTC), as JSON, and with export the newest export, as JSON.
func currentUsage(ctx context.Context, tn *Tenant, tier Tier, now, from, to time.Time, export bool) (*Snapshot, []byte, []byte, error) {
	s := newSnapshot(tier, now)
	var pending int64
	var days, alerts, latest []byte
	// The statement's plan is reused; the running tasks' count beside it is planned at each call, as
	// it needs the workspace's own statistics (queryRowWith).
	err := tn.queryRowWith(ctx, `SELECT
		  `+usageNowColumns+`,
		  CASE WHEN $6::bool THEN (SELECT coalesce(json_agg(json_build_array(extract(epoch FROM day)::bigint, api_calls,
		      agent_minutes, coalesce(extract(epoch FROM peak_hour)::bigint, 0), peak_calls) ORDER BY day), '[]')
		    FROM usage_daily_total WHERE workspace_id = $1 AND day >= $7 AND day <= $8) END,
		  `+usageAlertsColumn+`,
		  CASE WHEN $9::bool THEN (SELECT `+latestExportJSON+` FROM workspace_exports AS e WHERE e.workspace_id = $1
		    ORDER BY e.created_at DESC, e.id DESC LIMIT 1) END`,
		append(s.nowArgs(tn.ws, now), !from.IsZero(), from, to, export),
		runningTasksSQL,
		append(s.nowDest(&pending), &days, &alerts, &latest),
		[]any{&s.RunningTasks})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("usage: %w", err)
	}
	if err := s.finish(pending, alerts, now); err != nil {
		return nil, nil, nil, err
	}
	return s, days, latest, nil
}

// Month is the snapshot's calendar month's totals (what MonthUsage reads).
func (s *Snapshot) Month() MonthTotals {
	return MonthTotals{Month: s.PeriodStart, APICalls: s.APICallsMonth, AgentMinutes: s.AgentMinutesMonth}
}

// SeatsUsed counts members plus invitations of the tenant's workspace that are pending at now.
func SeatsUsed(ctx context.Context, tn *Tenant, now time.Time) (int64, error) {
	var members, pending int64
	if err := tn.db().NewSelect().Model((*Member)(nil)).ColumnExpr("count(*)").Scan(ctx, &members); err != nil {
		return 0, fmt.Errorf("count members: %w", err)
	}
	if err := tn.db().NewSelect().Model((*Invitation)(nil)).ColumnExpr("count(*)").
		Where("accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", now).Scan(ctx, &pending); err != nil {
		return 0, fmt.Errorf("count invitations: %w", err)
	}
	return members + pending, nil
}
