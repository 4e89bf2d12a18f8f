package models

import (
	"context"
	"fmt"
	"time"

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
}

// HourResets is when the hourly API-call count starts again.
func (s *Snapshot) HourResets() time.Time { return s.HourStart.Add(time.Hour) }

// CurrentUsage measures the tenant's workspace now. It runs inside the workspace's transaction.
func CurrentUsage(ctx context.Context, tn *Tenant, tier Tier, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Tier: tier, Limits: tier.Limits(), PeriodStart: MonthStart(now), HourStart: now.UTC().Truncate(time.Hour)}
	s.PeriodEnd = s.PeriodStart.AddDate(0, 1, 0)
	err := tn.db().NewSelect().Model((*UsageHour)(nil)).
		ColumnExpr("coalesce(sum(agent_minutes), 0)").
		ColumnExpr("coalesce(sum(api_calls) FILTER (WHERE hour = ?), 0)", s.HourStart).
		Where("hour >= ? AND hour < ?", s.PeriodStart, s.PeriodEnd).
		Scan(ctx, &s.AgentMinutesMonth, &s.APICallsHour)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	// An API call in this hour of a month that began this hour is already counted above; an hour
	// can't straddle months, so the filter is exact.
	if err := tn.db().NewSelect().Model((*Task)(nil)).ColumnExpr("count(*)").
		Where("status = ?", TaskRunning).Scan(ctx, &s.RunningTasks); err != nil {
		return nil, fmt.Errorf("running tasks: %w", err)
	}
	seats, err := SeatsUsed(ctx, tn, now)
	if err != nil {
		return nil, err
	}
	s.Members = seats
	return s, nil
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
