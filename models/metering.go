package models

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// The codes of metered refusals, as API clients see them.
const (
	CodeRateLimited         = "rate_limited"
	CodeConcurrentTaskLimit = "concurrent_task_limit"
	CodeQuotaExceeded       = "quota_exceeded"
	// CodeKeyRateLimited refuses a call past the key's own hourly limit.
	CodeKeyRateLimited = "key_rate_limited"
	// CodeIPNotAllowed refuses a call from an address the key's allowlist leaves out.
	CodeIPNotAllowed = "ip_not_allowed"
)

// ConcurrentRetryAfter is the wait suggested to a client refused a task slot: slots free up when
// tasks complete, which nobody can predict, so this is a polite polling interval.
const ConcurrentRetryAfter = 10 * time.Second

// QuotaError is a refusal by one of the tier's metered limits. Code tells API clients which one;
// RetryAfter, when set, is when trying again can succeed.
type QuotaError struct {
	Code       string
	Message    string
	RetryAfter time.Duration
}

// Error returns the message.
func (e *QuotaError) Error() string { return e.Message }

// Unwrap makes every quota refusal an ErrLimitReached.
func (e *QuotaError) Unwrap() error { return ErrLimitReached }

// RateWindow is the hourly API-call window a call was counted in: what the RateLimit headers say.
type RateWindow struct {
	Limit    Limit
	Used     int64
	ResetsAt time.Time
}

// Remaining is what is left of the hour's calls; ok is false when unlimited.
func (w RateWindow) Remaining() (int64, bool) { return w.Limit.Remaining(w.Used) }

// touchKey refreshes the key's last_used_at (and the address it was used from) when it is a minute old or more. Without a write on
// every request: the caller's lookup already says whether it is due, and when many requests find
// it due at once, SKIP LOCKED lets one of them write while the others move on.
func touchKey(ctx context.Context, tn *Tenant, caller *APICaller, now time.Time) error {
	if caller.LastUsedAt != nil && now.Sub(*caller.LastUsedAt) < time.Minute {
		return nil
	}
	ip, _ := ctx.Value(ipKey{}).(string)
	_, err := tn.db().ExecContext(ctx, `UPDATE api_keys SET last_used_at = ?, last_used_ip = ?
		WHERE workspace_id = ? AND id = (
			SELECT id FROM api_keys
			WHERE workspace_id = ? AND id = ? AND (last_used_at IS NULL OR last_used_at < ?)
			FOR UPDATE SKIP LOCKED)`,
		now, ip, caller.WorkspaceID, caller.WorkspaceID, caller.KeyID, now.Add(-time.Minute))
	if err != nil {
		return fmt.Errorf("touch key: %w", err)
	}
	return nil
}

// recordRefusal audits a quota refusal at now once per workspace, action and hour: the unique
// index audit_events_refusal_once_idx turns every later one into nothing. The first one of the
// hour also emits the webhook event quota.refused.
func recordRefusal(ctx context.Context, tn *Tenant, caller *APICaller, action string, now time.Time, details map[string]any) error {
	details["hour"] = now.UTC().Truncate(time.Hour).Format(time.RFC3339)
	details["key"] = caller.Prefix
	ip, _ := ctx.Value(ipKey{}).(string)
	ev := &AuditEvent{ID: NewID(), ActorKeyID: &caller.KeyID, Action: action, Target: caller.Prefix, Details: details, IP: ip, CreatedAt: now}
	res, err := tn.db().NewInsert().Model(ev).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("audit refusal: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	data := map[string]any{"refusal": action}
	for k, v := range details {
		data[k] = v
	}
	return EmitEvent(ctx, tn, "quota.refused", data, now)
}

// taskAsync remembers the pools opened with OpenOptions.TaskAsyncCommit.
var taskAsync sync.Map // *sql.DB → struct{}

// taskCommit is what goes before a task function in the FROM list of its one statement: on a pool
// opened with TaskAsyncCommit, a transaction-local synchronous_commit = off, so the statement's
// own (implicit) transaction commits without waiting for the disk; otherwise nothing.
func taskCommit(db bun.IDB) string {
	if bdb, ok := db.(*bun.DB); ok {
		if _, async := taskAsync.Load(bdb.DB); async {
			return "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit, "
		}
	}
	return ""
}

// MaxTaskInput is the longest task input, in characters.
const MaxTaskInput = 32_000

// StartTask starts a task of an agent in the caller's workspace. It is refused when the month's
// agent-minutes are used up (quota_exceeded) or every concurrent-task slot is taken
// (concurrent_task_limit). The checks and the insert run under the workspace row's lock (FOR NO
// KEY UPDATE, which leaves inserts referencing the workspace alone), so fifty starts at once
// against N slots leave exactly N running. It opens its own transaction, so that a refusal's audit
// line is committed while the refusal is returned.
//
// The checks and the insert are one statement (atrium_start_task), so a start is one round trip;
// a refusal's audit line is written after it. When the tier changed since the key was looked
// up, it runs the same checks in a transaction of its own under the tier it finds.
func StartTask(ctx context.Context, db bun.IDB, caller *APICaller, agentID uuid.UUID, input string, now time.Time) (*Task, error) {
	if msg := TextProblem(input, true); msg != "" {
		return nil, Invalid("input", msg)
	}
	if utf8.RuneCountInString(input) > MaxTaskInput {
		return nil, Invalid("input", fmt.Sprintf("must be at most %d characters", MaxTaskInput))
	}
	now = now.UTC().Truncate(time.Microsecond)
	if caller.WorkspaceID == uuid.Nil {
		return nil, ErrNoWorkspace
	}
	limits := caller.Tier.Limits()
	var minutes, concurrent *int64
	if v, ok := limits.AgentMinutesPerMonth.Value(); ok {
		minutes = &v
	}
	if v, ok := limits.ConcurrentTasks.Value(); ok {
		concurrent = &v
	}
	month := MonthStart(now)
	id := NewID()
	var key *uuid.UUID
	if caller.KeyID != uuid.Nil {
		key = &caller.KeyID
	}
	var out struct {
		Outcome   string     `bun:"outcome"`
		Used      int64      `bun:"used"`
		CreatedAt *time.Time `bun:"created_at"`
	}
	// A start that took a slot checks the running tasks against the concurrency alerts in the same
	// statement (atrium_quota_use_alert: one settings row read when there are none).
	err := db.NewRaw("SELECT t.* FROM "+taskCommit(db)+"atrium_start_task(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) AS t, "+
		"LATERAL (SELECT CASE WHEN t.outcome = 'started' THEN atrium_quota_use_alert(?, 'concurrent_tasks', ?, ?, ?) END) AS alerted",
		caller.WorkspaceID, id, agentID, input, now, string(caller.Tier), minutes, concurrent, month, month.AddDate(0, 1, 0), key,
		caller.WorkspaceID, LimitConcurrentTasks.PeriodStart(now), concurrent, now).
		Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("start task: %w", err)
	}
	var refused *QuotaError
	var audit func(ctx context.Context, tn *Tenant) error
	switch out.Outcome {
	case "started":
		return &Task{Scoped: Scoped{WorkspaceID: caller.WorkspaceID}, ID: id, AgentID: agentID, Status: TaskRunning,
			Input: input, CreatedAt: *out.CreatedAt, StartedAt: &now, KeyID: key, KeyName: caller.KeyName}, nil
	case "tier_changed":
		return startTaskTx(ctx, db, caller, agentID, input, now)
	case "no_workspace":
		return nil, Errorf(ErrNotFound, "workspace not found")
	case "no_agent":
		return nil, Errorf(ErrNotFound, "agent not found")
	case "quota_exceeded":
		refused = minutesRefusal(limits, caller.Tier, month)
		audit = func(ctx context.Context, tn *Tenant) error {
			return recordRefusal(ctx, tn, caller, "task.quota_exceeded", now, map[string]any{"limit": *minutes, "used": out.Used})
		}
	case "concurrent_limit":
		refused = concurrentRefusal(limits, caller.Tier)
		audit = func(ctx context.Context, tn *Tenant) error {
			return recordRefusal(ctx, tn, caller, "task.concurrent_limit", now, map[string]any{"limit": *concurrent})
		}
	default:
		return nil, fmt.Errorf("start task: unknown outcome %q", out.Outcome)
	}
	if err := InWorkspace(ctx, db, caller.WorkspaceID, audit); err != nil {
		return nil, err
	}
	return nil, refused
}

func minutesRefusal(limits TierLimits, tier Tier, month time.Time) *QuotaError {
	return &QuotaError{Code: CodeQuotaExceeded,
		Message: fmt.Sprintf("This workspace has used its %s agent-minutes for %s (%s tier). Upgrade to a bigger tier to start more tasks now; the minutes start again on %s.",
			limits.AgentMinutesPerMonth, month.Format("January"), tier.Label(), month.AddDate(0, 1, 0).Format("January 2"))}
}

func concurrentRefusal(limits TierLimits, tier Tier) *QuotaError {
	return &QuotaError{Code: CodeConcurrentTaskLimit, RetryAfter: ConcurrentRetryAfter,
		Message: fmt.Sprintf("All %s concurrent-task slots of the %s tier are busy. Complete a running task first, or upgrade for more slots.",
			limits.ConcurrentTasks, tier.Label())}
}

// startTaskTx is StartTask in a transaction of its own, under the tier it finds under the
// workspace row's lock.
func startTaskTx(ctx context.Context, db bun.IDB, caller *APICaller, agentID uuid.UUID, input string, now time.Time) (*Task, error) {
	var task *Task
	var refused *QuotaError
	err := InWorkspace(ctx, db, caller.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		var tier Tier
		if err := tn.db().NewSelect().Model((*Workspace)(nil)).Column("tier").Where("id = ?", caller.WorkspaceID).
			For("NO KEY UPDATE").Scan(ctx, &tier); err != nil {
			return notFound(err, "workspace")
		}
		if _, err := AgentByID(ctx, tn, agentID); err != nil {
			return err
		}
		limits := tier.Limits()
		if max, ok := limits.AgentMinutesPerMonth.Value(); ok {
			month := MonthStart(now)
			var used int64
			if err := tn.db().NewRaw("SELECT atrium_month_minutes(?, ?)", caller.WorkspaceID, month).Scan(ctx, &used); err != nil {
				return fmt.Errorf("month minutes: %w", err)
			}
			if used >= max {
				refused = minutesRefusal(limits, tier, month)
				return recordRefusal(ctx, tn, caller, "task.quota_exceeded", now, map[string]any{"limit": max, "used": used})
			}
		}
		if max, ok := limits.ConcurrentTasks.Value(); ok {
			var running int64
			if err := tn.db().NewSelect().Model((*Task)(nil)).ColumnExpr("count(*)").
				Where("status = ?", TaskRunning).Scan(ctx, &running); err != nil {
				return fmt.Errorf("running tasks: %w", err)
			}
			if running >= max {
				refused = concurrentRefusal(limits, tier)
				return recordRefusal(ctx, tn, caller, "task.concurrent_limit", now, map[string]any{"limit": max})
			}
		}
		task = &Task{ID: NewID(), AgentID: agentID, Status: TaskRunning, Input: input, CreatedAt: now, StartedAt: &now, KeyID: &caller.KeyID,
			KeyName: caller.KeyName}
		if _, err := tn.db().NewInsert().Model(task).Returning("*").Exec(ctx); err != nil {
			return fmt.Errorf("start task: %w", err)
		}
		return useAlert(ctx, tn, LimitConcurrentTasks, tier, now)
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return task, nil
}

// CompleteTask finishes a running task as succeeded or failed, which frees its slot, and adds its
// agent-minutes, ceil((finished_at - started_at) / 1 minute), to the usage of the hour it finished
// in. The conditional UPDATE lets exactly one completion through however many race; completing a
// finished task again changes and counts nothing and answers the task as it is.
func CompleteTask(ctx context.Context, db bun.IDB, caller *APICaller, id uuid.UUID, status string, now time.Time) (*Task, error) {
	st := TaskStatus(status)
	if st != TaskSucceeded && st != TaskFailed {
		return nil, &ValidationError{Fields: map[string]string{"status": "must be succeeded or failed"}}
	}
	if caller.WorkspaceID == uuid.Nil {
		return nil, ErrNoWorkspace
	}
	now = now.UTC().Truncate(time.Microsecond)
	var rows []struct {
		Changed      bool       `bun:"changed"`
		AgentID      uuid.UUID  `bun:"agent_id"`
		Status       TaskStatus `bun:"status"`
		Input        string     `bun:"input"`
		CreatedAt    time.Time  `bun:"created_at"`
		StartedAt    *time.Time `bun:"started_at"`
		FinishedAt   *time.Time `bun:"finished_at"`
		AgentMinutes int64      `bun:"agent_minutes"`
		KeyID        *uuid.UUID `bun:"key_id"`
		KeyName      *string    `bun:"key_name"`
	}
	var minutes *int64
	if v, ok := caller.Tier.Limits().AgentMinutesPerMonth.Value(); ok {
		minutes = &v
	}
	// One statement: the binding, the conditional UPDATE, the minutes' upsert and, when it counted
	// minutes, the month's total against the agent-minute alerts (atrium_quota_use_alert). Without
	// an agent-minute limit the minutes go to one of the hour's slots (spreadTier: the caller's
	// tier, which the function checks is still the workspace's under the slot lock), so that
	// concurrent completions in one workspace do not queue on the hour's row and its rollups, each
	// holding their locks until its commit is flushed; with a limit they go to the hour's row, so
	// each start's check and each completion's alert see the ones committed before it.
	var spreadTier *string
	if minutes == nil {
		t := string(caller.Tier)
		spreadTier = &t
	}
	err := db.NewRaw("SELECT t.* FROM "+taskCommit(db)+"atrium_complete_task(?, ?, ?, ?, ?, ?) AS t, "+
		"LATERAL (SELECT CASE WHEN t.changed AND t.agent_minutes > 0 THEN atrium_quota_use_alert(?, 'agent_minutes', ?, ?, ?) END) AS alerted",
		caller.WorkspaceID, id, string(st), now, now.Truncate(time.Hour), spreadTier,
		caller.WorkspaceID, MonthStart(now), minutes, now).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("complete task: %w", err)
	}
	if len(rows) == 0 {
		return nil, Errorf(ErrNotFound, "task not found")
	}
	r := rows[0]
	return &Task{Scoped: Scoped{WorkspaceID: caller.WorkspaceID}, ID: id, AgentID: r.AgentID, Status: r.Status, Input: r.Input,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, AgentMinutes: r.AgentMinutes,
		KeyID: r.KeyID, KeyName: deref(r.KeyName)}, nil
}

// deref is the string s points to, or "".
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
