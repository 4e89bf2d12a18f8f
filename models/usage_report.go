package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// UsageRanges are the chart ranges the usage page offers, in days.
var UsageRanges = []int{7, 30, 90}

// DefaultUsageRange is the range shown when none is asked for: about a month, like the quota.
const DefaultUsageRange = 30

// ParseUsageRange reads a range in days; anything but 7, 30 or 90 is the default.
func ParseUsageRange(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return DefaultUsageRange
	}
	for _, r := range UsageRanges {
		if r == n {
			return n
		}
	}
	return DefaultUsageRange
}

// UsagePoint is the metered use of one UTC hour.
type UsagePoint struct {
	Hour         time.Time
	APICalls     int64
	AgentMinutes int64
}

// UsageDay is the metered use of one UTC day with its busiest hour of API calls.
type UsageDay struct {
	Day          time.Time
	APICalls     int64
	AgentMinutes int64
	// PeakHour is the day's hour with the most API calls (the first such hour), zero when the
	// day had none.
	PeakHour  time.Time
	PeakCalls int64
}

// UsageSeries is a workspace's use over whole UTC days ending today: every hour up to the current
// one, zero-filled, and the same hours summed by day.
type UsageSeries struct {
	Days int
	// From is midnight UTC of the first day; Until is the end of the current hour. Later hours
	// have no use yet and are left out.
	From, Until  time.Time
	Hours        []UsagePoint
	Daily        []UsageDay
	APICalls     int64
	AgentMinutes int64
}

// UsageOver reads the tenant's workspace's hourly use over the last days UTC days, today
// included. It runs inside the workspace's transaction.
func UsageOver(ctx context.Context, tn *Tenant, now time.Time, days int) (*UsageSeries, error) {
	s := newHourlySeries(now, days)
	var rows []UsageHour
	err := tn.db().NewSelect().Model(&rows).ModelTableExpr("usage_hourly_total AS uh").Column("hour", "api_calls", "agent_minutes").
		Where("hour >= ? AND hour < ?", s.From, s.Until).
		Order("hour").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("usage over %d days: %w", s.Days, err)
	}
	s.fillHours(rows)
	return s, nil
}

// newHourlySeries is the series of the last days UTC days (DefaultUsageRange when less than one),
// today included, up to the end of now's hour, before its hours are read.
func newHourlySeries(now time.Time, days int) *UsageSeries {
	if days < 1 {
		days = DefaultUsageRange
	}
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return &UsageSeries{Days: days, From: today.AddDate(0, 0, -(days - 1)), Until: now.Truncate(time.Hour).Add(time.Hour)}
}

// fillHours sets the series' hours from the hourly rows read (those between From and Until),
// zero-filled, and sums them by day and in all.
func (s *UsageSeries) fillHours(rows []UsageHour) {
	byHour := make(map[time.Time]UsageHour, len(rows))
	for _, r := range rows {
		byHour[r.Hour.UTC()] = r
	}
	for h := s.From; h.Before(s.Until); h = h.Add(time.Hour) {
		r := byHour[h]
		s.Hours = append(s.Hours, UsagePoint{Hour: h, APICalls: r.APICalls, AgentMinutes: r.AgentMinutes})
		s.APICalls += r.APICalls
		s.AgentMinutes += r.AgentMinutes
		if h.Hour() == 0 {
			s.Daily = append(s.Daily, UsageDay{Day: h})
		}
		d := &s.Daily[len(s.Daily)-1]
		d.APICalls += r.APICalls
		d.AgentMinutes += r.AgentMinutes
		if r.APICalls > d.PeakCalls {
			d.PeakCalls, d.PeakHour = r.APICalls, h
		}
	}
}

// HourlyUsageUpTo is the longest range the usage page draws hour by hour; longer ranges are read
// from the daily rollup (usage_daily), one row per day.
const HourlyUsageUpTo = 7

// UsageByDay reads the tenant's workspace's use over the last days UTC days, today included, from
// the daily rollup: the series has its days (zero-filled) and totals, and no hours. It runs inside
// the workspace's transaction.
func UsageByDay(ctx context.Context, tn *Tenant, now time.Time, days int) (*UsageSeries, error) {
	_, s, err := UsageNowAndByDay(ctx, tn, TierFree, now, days)
	return s, err
}

// UsageNowAndByDay is CurrentUsage and UsageByDay in one statement, for the usage page.
func UsageNowAndByDay(ctx context.Context, tn *Tenant, tier Tier, now time.Time, days int) (*Snapshot, *UsageSeries, error) {
	if days < 1 {
		days = DefaultUsageRange
	}
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	s := &UsageSeries{Days: days, From: today.AddDate(0, 0, -(days - 1)), Until: now.Truncate(time.Hour).Add(time.Hour)}
	snap, raw, _, err := currentUsage(ctx, tn, tier, now, s.From, today, false)
	if err != nil {
		return nil, nil, fmt.Errorf("usage over %d days: %w", days, err)
	}
	// Each day is an array of numbers, [day, api_calls, agent_minutes, peak_hour, peak_calls], the
	// times as Unix seconds (peak_hour 0 when none): 90 of them decode in a fraction of the time
	// the same days as objects with RFC 3339 times take.
	var rows [][5]int64
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, nil, fmt.Errorf("usage over %d days: %w", days, err)
	}
	byDay := make(map[time.Time]int, len(rows))
	for i, r := range rows {
		byDay[time.Unix(r[0], 0).UTC()] = i
	}
	for d := s.From; !d.After(today); d = d.AddDate(0, 0, 1) {
		day := UsageDay{Day: d}
		if i, ok := byDay[d]; ok {
			r := rows[i]
			day.APICalls, day.AgentMinutes, day.PeakCalls = r[1], r[2], r[4]
			if r[3] != 0 && r[4] > 0 {
				day.PeakHour = time.Unix(r[3], 0).UTC()
			}
		}
		s.Daily = append(s.Daily, day)
		s.APICalls += day.APICalls
		s.AgentMinutes += day.AgentMinutes
	}
	return snap, s, nil
}

// UsageCSVHeader names the columns of UsageSeries.CSVRows.
var UsageCSVHeader = []string{"hour_utc", "api_calls", "agent_minutes"}

// CSVRows are the series' hours as CSV records, oldest first, in the UsageCSVHeader columns.
func (s *UsageSeries) CSVRows() [][]string {
	out := make([][]string, 0, len(s.Hours))
	for _, p := range s.Hours {
		out = append(out, []string{p.Hour.Format(time.RFC3339), strconv.FormatInt(p.APICalls, 10), strconv.FormatInt(p.AgentMinutes, 10)})
	}
	return out
}

// MonthTotals is a workspace's use in one calendar month (UTC).
type MonthTotals struct {
	Month        time.Time
	APICalls     int64
	AgentMinutes int64
}

// MonthUsage sums the tenant's workspace's use in the UTC calendar month that contains t. It
// runs inside the workspace's transaction.
func MonthUsage(ctx context.Context, tn *Tenant, t time.Time) (MonthTotals, error) {
	m := MonthTotals{Month: MonthStart(t)}
	err := tn.db().NewSelect().Model((*UsageHour)(nil)).ModelTableExpr("usage_hourly_total AS uh").
		ColumnExpr("coalesce(sum(api_calls), 0), coalesce(sum(agent_minutes), 0)").
		Where("hour >= ? AND hour < ?", m.Month, m.Month.AddDate(0, 1, 0)).
		Scan(ctx, &m.APICalls, &m.AgentMinutes)
	if err != nil {
		return m, fmt.Errorf("month usage: %w", err)
	}
	return m, nil
}
