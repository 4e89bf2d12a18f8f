package models

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
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
	// keys are the hour's keys that called through this process; keysFlushed is when their
	// counts were last written.
	keys        map[uuid.UUID]*keyMeter
	keysFlushed time.Time
}

// keyMeter is one key's hour in one process, kept under its workspace's mutex. A key with a limit
// of its own leases its slice in blocks exactly as the workspace leases its hour
// (atrium_lease_key_calls on api_key_usage_hourly), so the key's limit holds across processes; a
// key without one only counts. Its counts are written with the workspace's, at most once a second.
type keyMeter struct {
	limit  int64 // the limit the lease was taken under; 0: none
	local  int64 // leased and not yet used
	leased int64 // the hour's leased total, all processes, as of the last lease
	empty  time.Time
	// Not yet written: calls admitted (keys without a limit), leased calls to hand back (the
	// limit changed), and refusals.
	calls, back, ipRefused, keyLimited, wsLimited int64
	audited                                       map[string]bool // refusal actions audited this hour
}

// dirty reports whether km has counts to write; with final, also leased calls to hand back.
func (km *keyMeter) dirty(final bool) bool {
	return km.calls != 0 || km.back != 0 || km.ipRefused != 0 || km.keyLimited != 0 || km.wsLimited != 0 ||
		final && km.local != 0
}

func (w *wsMeter) key(id uuid.UUID) *keyMeter {
	km := w.keys[id]
	if km == nil {
		if w.keys == nil {
			w.keys = map[uuid.UUID]*keyMeter{}
		}
		km = &keyMeter{audited: map[string]bool{}}
		w.keys[id] = km
	}
	return km
}

// keysDirty reports whether any key of w has counts to write.
func (w *wsMeter) keysDirty() bool {
	for _, km := range w.keys {
		if km.dirty(false) {
			return true
		}
	}
	return false
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

// Admit counts one API call of the caller's key and workspace in the hour of now. It refuses a call
// from an address the key's allowlist leaves out (CodeIPNotAllowed), one past the key's own hourly
// limit (CodeKeyRateLimited) and one past the tier's hourly limit (CodeRateLimited), each a
// QuotaError; a call refused by the key takes nothing of the workspace's hour, and one refused by
// the workspace gives its key's share back. Each refusal is audited once per hour (per key for the
// key's) and counted per key. The key's last_used_at and address are refreshed at most once a
// minute.
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
		if err := m.settle(ctx, caller.WorkspaceID, w, true); err != nil {
			return rw, err
		}
		touched := w.touched
		if len(touched) > 10_000 {
			touched = map[uuid.UUID]time.Time{}
		}
		keys := w.keys
		if !w.hour.Equal(hour) || len(keys) > 10_000 {
			keys = nil
		}
		w.hour, w.limit, w.local, w.leased, w.pending = hour, limit, 0, 0, 0
		w.flushed, w.empty, w.refusals, w.touched, w.keys = time.Time{}, time.Time{}, false, touched, keys
	}
	ip, _ := ctx.Value(ipKey{}).(string)
	km := w.key(caller.KeyID)
	used := func() int64 {
		if limit < 0 {
			return w.leased + w.pending
		}
		return w.leased - w.local
	}
	if !caller.IPAllowed(ip) {
		km.ipRefused++
		rw.Used = used()
		shown := ip
		if shown == "" {
			shown = "an unknown address"
		}
		refused := &QuotaError{Code: CodeIPNotAllowed,
			Message: fmt.Sprintf("This key may not be used from %s: it is not in the key's list of allowed addresses. An owner, an admin or the key's creator can change the list on the key's page in the console.", shown)}
		return rw, m.auditKeyRefusal(ctx, caller, km, "api.ip_not_allowed", hour, map[string]any{"ip": ip}, refused)
	}
	if err := m.touch(ctx, w, caller, now); err != nil {
		return rw, err
	}
	// The key's own slice first: a call it refuses takes nothing of the workspace's hour.
	keyToken := false
	if caller.KeyLimit != km.limit {
		km.back += km.local // leased under another limit: handed back with the next write
		km.local, km.leased, km.limit, km.empty = 0, 0, caller.KeyLimit, time.Time{}
	}
	if caller.KeyLimit > 0 {
		if km.local == 0 && (km.empty.IsZero() || time.Since(km.empty) >= exhaustedRecheck) {
			if err := m.leaseKey(ctx, caller, w, km); err != nil {
				return rw, err
			}
		}
		if km.local == 0 {
			km.keyLimited++
			kw := RateWindow{Limit: Max(caller.KeyLimit), Used: caller.KeyLimit, ResetsAt: rw.ResetsAt}
			refused := &QuotaError{Code: CodeKeyRateLimited, RetryAfter: rw.ResetsAt.Sub(now),
				Message: fmt.Sprintf("This key has made its %s API calls for this hour (the key's own limit). The count starts again at %s; an owner, an admin or the key's creator can change the key's limit on its page in the console.",
					kw.Limit, rw.ResetsAt.Format("15:04 UTC"))}
			return kw, m.auditKeyRefusal(ctx, caller, km, "api.key_rate_limited", hour, map[string]any{"limit": caller.KeyLimit}, refused)
		}
		km.local--
		keyToken = true
	}
	// keyWindow is the key's window when it is nearer its end than the workspace's.
	keyWindow := func(rw RateWindow) RateWindow {
		if !keyToken {
			return rw
		}
		kw := RateWindow{Limit: Max(caller.KeyLimit), Used: min(caller.KeyLimit, max(0, km.leased-km.local)), ResetsAt: rw.ResetsAt}
		wsRem, wsLimited := rw.Remaining()
		if kRem, _ := kw.Remaining(); !wsLimited || kRem < wsRem {
			return kw
		}
		return rw
	}
	if limit < 0 {
		w.pending++
		if !keyToken {
			km.calls++
		}
		rw.Used = w.leased + w.pending
		if time.Since(w.flushed) >= unlimitedFlush {
			if err := m.settle(ctx, caller.WorkspaceID, w, false); err != nil {
				return rw, err
			}
		}
		return keyWindow(rw), nil
	}
	if w.local == 0 && (w.empty.IsZero() || time.Since(w.empty) >= exhaustedRecheck) {
		if err := m.lease(ctx, caller, w, now); err != nil {
			if keyToken {
				km.local++
			}
			return rw, err
		}
	}
	if w.local > 0 {
		w.local--
		if !keyToken {
			km.calls++
		}
		rw.Used = w.leased - w.local
		return keyWindow(rw), nil
	}
	if keyToken {
		km.local++ // the workspace refused: the key's share goes back to its block
	}
	km.wsLimited++
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

// auditKeyRefusal audits a refusal by the key's own controls once per key, action and hour (the
// unique index audit_events_key_refusal_once_idx makes it once across processes too) and answers
// refused.
func (m *Meter) auditKeyRefusal(ctx context.Context, caller *APICaller, km *keyMeter, action string, hour time.Time, details map[string]any, refused *QuotaError) error {
	if km.audited[action] {
		return refused
	}
	err := InWorkspace(ctx, m.db, caller.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		// Another process may be auditing it at this moment: the transaction lock makes the look
		// and the insert one step across processes, so an audit line is never even tried twice
		// (an insert the unique index turned into nothing would still have taken a place in the
		// workspace's audit chain).
		if _, err := tn.db().ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
			"atrium.key_refusal:"+caller.KeyID.String()+":"+action+":"+hour.UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		var seen bool
		err := tn.db().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events WHERE workspace_id = ? AND action = ?
			AND details->>'key' = ? AND details->>'hour' = ?)`, caller.WorkspaceID, action, caller.Prefix,
			hour.UTC().Format(time.RFC3339)).Scan(&seen)
		if err != nil || seen {
			return err
		}
		return recordRefusal(ctx, tn, caller, action, hour, details)
	})
	if err != nil {
		return err
	}
	km.audited[action] = true
	return refused
}

// leaseKey takes the next block of the key's slice of the hour.
func (m *Meter) leaseKey(ctx context.Context, caller *APICaller, w *wsMeter, km *keyMeter) error {
	var granted, leased int64
	err := InWorkspace(ctx, m.db, caller.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		return tn.db().QueryRowContext(ctx, "SELECT granted, leased FROM atrium_lease_key_calls(?, ?, ?, ?, ?)",
			caller.WorkspaceID, caller.KeyID, w.hour, km.limit, LeaseMax).Scan(&granted, &leased)
	})
	if err != nil {
		return fmt.Errorf("lease key calls: %w", err)
	}
	km.local += granted
	km.leased = leased
	km.empty = time.Time{}
	if granted == 0 {
		km.empty = time.Now()
	}
	return nil
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

// settle writes what w owes: an unlimited tier's count is added to usage_hourly, and its keys'
// counts to api_key_usage_hourly, in one transaction. With final (the hour ends, the limit
// changed, the meter closes) the unused part of every lease, the workspace's and its keys', goes
// back too. w's mutex is held.
func (m *Meter) settle(ctx context.Context, ws uuid.UUID, w *wsMeter, final bool) error {
	delta := w.pending
	if final {
		delta -= w.local
	}
	var ids []string
	var calls, ipRefused, keyLimited, wsLimited []int64
	for id, km := range w.keys {
		if !km.dirty(final) {
			continue
		}
		c := km.calls - km.back
		if final {
			c -= km.local
		}
		ids = append(ids, id.String())
		calls, ipRefused, keyLimited, wsLimited = append(calls, c), append(ipRefused, km.ipRefused),
			append(keyLimited, km.keyLimited), append(wsLimited, km.wsLimited)
	}
	if delta == 0 && len(ids) == 0 || w.hour.IsZero() {
		w.flushed, w.keysFlushed = time.Now(), time.Now()
		return nil
	}
	total := int64(-1)
	err := InWorkspace(ctx, m.db, ws, func(ctx context.Context, tn *Tenant) error {
		if delta != 0 {
			err := tn.db().QueryRowContext(ctx, `INSERT INTO usage_hourly AS u (workspace_id, hour, api_calls) VALUES (?, ?, greatest(0, ?::bigint))
				ON CONFLICT (workspace_id, hour) DO UPDATE SET api_calls = greatest(0, u.api_calls + ?::bigint)
				RETURNING u.api_calls`, ws, w.hour, delta, delta).Scan(&total)
			if err != nil {
				return fmt.Errorf("settle api calls: %w", err)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		// Joined with api_keys, so a key deleted meanwhile drops its counts instead of failing.
		_, err := tn.db().ExecContext(ctx, `INSERT INTO api_key_usage_hourly AS u
				(workspace_id, key_id, hour, calls, ip_refused, key_limited, workspace_limited)
			SELECT k.workspace_id, k.id, ?, x.calls, x.ip, x.kl, x.wl
			FROM unnest(?::uuid[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) AS x (key_id, calls, ip, kl, wl)
			JOIN api_keys AS k ON k.workspace_id = ? AND k.id = x.key_id
			ON CONFLICT (workspace_id, key_id, hour) DO UPDATE SET
				calls = greatest(0, u.calls + EXCLUDED.calls),
				ip_refused = u.ip_refused + EXCLUDED.ip_refused,
				key_limited = u.key_limited + EXCLUDED.key_limited,
				workspace_limited = u.workspace_limited + EXCLUDED.workspace_limited`,
			w.hour, pgdialect.Array(ids), pgdialect.Array(calls), pgdialect.Array(ipRefused), pgdialect.Array(keyLimited),
			pgdialect.Array(wsLimited), ws)
		if err != nil {
			return fmt.Errorf("settle key calls: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.pending = 0
	if final {
		w.local = 0
	}
	if total >= 0 {
		w.leased = total
	}
	for _, km := range w.keys {
		km.calls, km.back, km.ipRefused, km.keyLimited, km.wsLimited = 0, 0, 0, 0, 0
		if final {
			km.local = 0
		}
	}
	w.flushed, w.keysFlushed = time.Now(), time.Now()
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
		ended := !w.hour.IsZero() && w.hour.Add(time.Hour).Compare(now) <= 0
		due := !w.hour.IsZero() && (ended ||
			w.limit < 0 && w.pending > 0 && time.Since(w.flushed) >= unlimitedFlush ||
			time.Since(w.keysFlushed) >= unlimitedFlush && w.keysDirty())
		var err error
		if due {
			err = m.settle(ctx, ws, w, ended)
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
		if err := m.settle(ctx, ws, w, true); err != nil && first == nil {
			first = err
		}
		w.empty = time.Time{}
		for _, km := range w.keys {
			km.empty = time.Time{}
		}
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
