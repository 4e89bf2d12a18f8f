package models

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// LeaseMax is the largest block of API calls one lease takes.
const LeaseMax = 1000

// unlimitedFlush is how often a process writes the calls it counted for an unlimited tier.
const unlimitedFlush = time.Second

// exhaustedRecheck is how long a process trusts "none left this hour" before asking again (a
// process that stops hands its unused calls back).
const exhaustedRecheck = time.Second

// Meter admits API calls against each workspace's hourly limit without a database write per call.
// For a limited tier it leases blocks of the hour's calls from usage_hourly, min(LeaseMax,
// (limit - leased) ÷ 16) and at least one while any is left, with one atomic statement per lease,
// and admits from its block in memory; usage_hourly.api_calls counts the calls leased, so the
// limit holds across any number of processes. Unused calls are handed back when the hour ends and
// on Close; a process that dies without Close loses its block, so a crash can only under-admit,
// by at most one block per process. For an unlimited tier it counts in memory and adds the count
// to usage_hourly at most once a second, at the hour's end and on Close.
//
// The hourly usage the console and /api/v1/usage show is therefore exact to within the calls
// leased but not yet used (and, for unlimited tiers, the last second's calls).
type Meter struct {
	db bun.IDB

	mu sync.Mutex
	ws map[uuid.UUID]*wsMeter
}

// wsMeter is one workspace's hour in this process. Its mutex is held across a lease, so one
// workspace's calls wait for its lease, not for each other's.
type wsMeter struct {
	mu       sync.Mutex
	hour     time.Time
	limit    int64 // -1: unlimited
	local    int64 // leased and not yet used
	leased   int64 // the hour's leased total, all processes, as of the last lease
	pending  int64 // unlimited: counted and not yet written
	flushed  time.Time
	empty    time.Time // when the database last said nothing was left
	refusals bool      // the hour's refusal is audited
	touched  map[uuid.UUID]time.Time
	gone     bool // dropped from the meter's map: take a fresh one
}

// NewMeter makes a process's meter over db.
func NewMeter(db bun.IDB) *Meter {
	return &Meter{db: db, ws: map[uuid.UUID]*wsMeter{}}
}

func (m *Meter) get(ws uuid.UUID) *wsMeter {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.ws[ws]
	if w == nil {
		w = &wsMeter{limit: -2, touched: map[uuid.UUID]time.Time{}}
		m.ws[ws] = w
	}
	return w
}

// Admit counts one API call of the caller's workspace in the hour of now, and refuses it once the
// tier's hourly limit is reached (a QuotaError with CodeRateLimited). A refusal is audited once
// per workspace and hour. The key's last_used_at is refreshed at most once a minute.
func (m *Meter) Admit(ctx context.Context, caller *APICaller, now time.Time) (RateWindow, error) {
	hour := now.UTC().Truncate(time.Hour)
	rw := RateWindow{Limit: caller.Tier.Limits().APICallsPerHour, ResetsAt: hour.Add(time.Hour)}
	limit, limited := rw.Limit.Value()
	if !limited {
		limit = -1
	}
	w := m.get(caller.WorkspaceID)
	w.mu.Lock()
	for w.gone {
		w.mu.Unlock()
		w = m.get(caller.WorkspaceID)
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	if !w.hour.Equal(hour) || w.limit != limit {
		if err := m.settle(ctx, caller.WorkspaceID, w); err != nil {
			return rw, err
		}
		touched := w.touched
		if len(touched) > 10_000 {
			touched = map[uuid.UUID]time.Time{}
		}
		w.hour, w.limit, w.local, w.leased, w.pending = hour, limit, 0, 0, 0
		w.flushed, w.empty, w.refusals, w.touched = time.Time{}, time.Time{}, false, touched
	}
	if err := m.touch(ctx, w, caller, now); err != nil {
		return rw, err
	}
	if limit < 0 {
		w.pending++
		rw.Used = w.leased + w.pending
		if time.Since(w.flushed) >= unlimitedFlush {
			if err := m.settle(ctx, caller.WorkspaceID, w); err != nil {
				return rw, err
			}
		}
		return rw, nil
	}
	if w.local == 0 && (w.empty.IsZero() || time.Since(w.empty) >= exhaustedRecheck) {
		if err := m.lease(ctx, caller, w, now); err != nil {
			return rw, err
		}
	}
	if w.local > 0 {
		w.local--
		rw.Used = w.leased - w.local
		return rw, nil
	}
	rw.Used = limit
	refused := &QuotaError{Code: CodeRateLimited, RetryAfter: rw.ResetsAt.Sub(now),
		Message: fmt.Sprintf("This workspace has made its %s API calls for this hour (%s tier). The count starts again at %s; a bigger tier allows more.",
			rw.Limit, caller.Tier.Label(), rw.ResetsAt.Format("15:04 UTC"))}
	if !w.refusals {
		err := InWorkspace(ctx, m.db, caller.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
			return recordRefusal(ctx, tn, caller, "api.rate_limited", now, map[string]any{"limit": limit})
		})
		if err != nil {
			return rw, err
		}
		w.refusals = true
	}
	return rw, refused
}

// lease takes the next block of the hour's calls. The same statement records the quota alerts
// the block crosses (atrium_quota_alert): the calls leased for the hour are what alerts.
func (m *Meter) lease(ctx context.Context, caller *APICaller, w *wsMeter, now time.Time) error {
	var granted, leased int64
	err := InWorkspace(ctx, m.db, caller.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		return tn.db().QueryRowContext(ctx, `SELECT l.granted, l.leased FROM atrium_lease_api_calls(?, ?, ?, ?) AS l,
			LATERAL atrium_quota_alert(?, 'api_calls', ?, ?, l.leased - l.granted, l.leased, ?) AS alerted`,
			caller.WorkspaceID, w.hour, w.limit, LeaseMax, caller.WorkspaceID, w.hour, w.limit, now.UTC()).Scan(&granted, &leased)
	})
	if err != nil {
		return fmt.Errorf("lease api calls: %w", err)
	}
	w.local += granted
	w.leased = leased
	w.empty = time.Time{}
	if granted == 0 {
		w.empty = time.Now()
	}
	return nil
}

// settle writes what w owes usage_hourly: the unused part of a lease goes back, an unlimited
// tier's count is added. w's mutex is held.
func (m *Meter) settle(ctx context.Context, ws uuid.UUID, w *wsMeter) error {
	delta := w.pending - w.local
	if delta == 0 || w.hour.IsZero() {
		w.flushed = time.Now()
		return nil
	}
	var total int64
	err := InWorkspace(ctx, m.db, ws, func(ctx context.Context, tn *Tenant) error {
		return tn.db().QueryRowContext(ctx, `INSERT INTO usage_hourly AS u (workspace_id, hour, api_calls) VALUES (?, ?, greatest(0, ?::bigint))
			ON CONFLICT (workspace_id, hour) DO UPDATE SET api_calls = greatest(0, u.api_calls + ?::bigint)
			RETURNING u.api_calls`, ws, w.hour, delta, delta).Scan(&total)
	})
	if err != nil {
		return fmt.Errorf("settle api calls: %w", err)
	}
	w.pending, w.local, w.leased, w.flushed = 0, 0, total, time.Now()
	return nil
}

// touch refreshes the key's last_used_at when it is a minute old or more, at most once a minute
// per key and process.
func (m *Meter) touch(ctx context.Context, w *wsMeter, caller *APICaller, now time.Time) error {
	if caller.LastUsedAt != nil && now.Sub(*caller.LastUsedAt) < time.Minute {
		return nil
	}
	if at, ok := w.touched[caller.KeyID]; ok && now.Sub(at) < time.Minute && !now.Before(at) {
		return nil
	}
	err := InWorkspace(ctx, m.db, caller.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		return touchKey(ctx, tn, caller, now)
	})
	if err != nil {
		return err
	}
	w.touched[caller.KeyID] = now
	return nil
}

// Settle hands back the unused calls of hours that have ended and writes unlimited tiers' counts
// older than a second, and forgets workspaces whose hour has ended. Run calls it every second.
func (m *Meter) Settle(ctx context.Context, now time.Time) error {
	now = now.UTC()
	var first error
	for ws, w := range m.snapshot() {
		w.mu.Lock()
		due := !w.hour.IsZero() && (w.hour.Add(time.Hour).Compare(now) <= 0 ||
			w.limit < 0 && w.pending > 0 && time.Since(w.flushed) >= unlimitedFlush)
		var err error
		if due {
			err = m.settle(ctx, ws, w)
		}
		if err == nil && w.hour.Add(time.Hour).Compare(now) <= 0 {
			m.mu.Lock()
			if m.ws[ws] == w {
				delete(m.ws, ws)
			}
			m.mu.Unlock()
			w.gone = true
		}
		w.mu.Unlock()
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close hands back every unused call and writes every count. The meter may be used again after.
func (m *Meter) Close(ctx context.Context) error {
	var first error
	for ws, w := range m.snapshot() {
		w.mu.Lock()
		if err := m.settle(ctx, ws, w); err != nil && first == nil {
			first = err
		}
		w.empty = time.Time{}
		w.mu.Unlock()
	}
	return first
}

// Run settles every second until ctx ends, with clock the server's clock.
func (m *Meter) Run(ctx context.Context, clock func() time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Settle(ctx, clock())
		}
	}
}

func (m *Meter) snapshot() map[uuid.UUID]*wsMeter {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[uuid.UUID]*wsMeter, len(m.ws))
	for k, v := range m.ws {
		out[k] = v
	}
	return out
}
