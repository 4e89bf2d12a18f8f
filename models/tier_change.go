package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TierChangeRefused is a downgrade that the workspace's current use exceeds. Reduce says, limit by
// limit, what has to come down first.
type TierChangeRefused struct {
	From, To Tier
	Reduce   []string
	// RunningTasks is true when the running tasks are among what has to come down.
	RunningTasks bool
}

// Error says why, in one line.
func (e *TierChangeRefused) Error() string {
	return fmt.Sprintf("The workspace uses more than the %s tier allows. First: %s", e.To.Label(), strings.Join(e.Reduce, " "))
}

// Unwrap makes the refusal an ErrLimitReached.
func (e *TierChangeRefused) Unwrap() error { return ErrLimitReached }

// DowngradeBlockers lists what in the current use u stops a move to tier to: one sentence per limit
// the use exceeds, saying what to reduce first. Use exactly at a limit fits. Empty means the move
// is allowed.
func DowngradeBlockers(u *Snapshot, to Tier) []string {
	lim := to.Limits()
	var out []string
	if n, ok := lim.Members.Value(); ok && u.Members > n {
		out = append(out, fmt.Sprintf("Members: %s seats are taken (members and pending invitations) and %s allows %s. Remove %s or revoke pending invitations.",
			FormatCount(u.Members), to.Label(), FormatCount(n), countNoun(u.Members-n, "member", "members")))
	}
	if n, ok := lim.ConcurrentTasks.Value(); ok && u.RunningTasks > n {
		out = append(out, fmt.Sprintf("Running tasks: %s are running and %s allows %s at once. Let %s finish first.",
			FormatCount(u.RunningTasks), to.Label(), FormatCount(n), countNoun(u.RunningTasks-n, "task", "tasks")))
	}
	if n, ok := lim.AgentMinutesPerMonth.Value(); ok && u.AgentMinutesMonth > n {
		out = append(out, fmt.Sprintf("Agent-minutes: %s used this month and %s allows %s. Downgrade after the count starts again on %s.",
			FormatCount(u.AgentMinutesMonth), to.Label(), FormatCount(n), u.PeriodEnd.UTC().Format("January 2, 15:04 UTC")))
	}
	if n, ok := lim.APICallsPerHour.Value(); ok && u.APICallsHour > n {
		out = append(out, fmt.Sprintf("API calls: %s this hour and %s allows %s an hour. Downgrade after %s, when the count starts again.",
			FormatCount(u.APICallsHour), to.Label(), FormatCount(n), u.HourResets().UTC().Format("15:04 UTC")))
	}
	return out
}

func countNoun(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return FormatCount(n) + " " + many
}

// ChangeTier moves the tenant's workspace to another tier. Only an owner may. An upgrade takes
// effect at once; a downgrade that current use exceeds is refused with a *TierChangeRefused that
// says what to reduce first. It runs in the workspace's transaction and holds the workspace row's
// lock, so invitations, acceptances and task starts (which take it too) cannot move the counts it
// checks. Choosing the current tier changes and records nothing; from is the tier before.
func ChangeTier(ctx context.Context, tn *Tenant, actor Actor, to Tier, now time.Time) (from Tier, err error) {
	to, ok := ParseTier(string(to))
	if !ok {
		return "", &ValidationError{Fields: map[string]string{"tier": "Choose free, starter, pro or enterprise."}}
	}
	ws, _, err := lockAs(ctx, tn, actor, ActManageTier, "Only owners change the tier.")
	if err != nil {
		return "", err
	}
	if ws.Tier == to {
		return ws.Tier, nil
	}
	if to.Rank() < ws.Tier.Rank() {
		u, err := CurrentUsage(ctx, tn, to, now)
		if err != nil {
			return ws.Tier, err
		}
		if reduce := DowngradeBlockers(u, to); len(reduce) > 0 {
			n, limited := to.Limits().ConcurrentTasks.Value()
			return ws.Tier, &TierChangeRefused{From: ws.Tier, To: to, Reduce: reduce, RunningTasks: limited && u.RunningTasks > n}
		}
	}
	if _, err := tn.db().NewUpdate().Model(ws).Set("tier = ?", to).WherePK().Exec(ctx); err != nil {
		return ws.Tier, fmt.Errorf("change tier: %w", err)
	}
	// The agent-minutes that completions left in slots while the tier had no minute limit go into
	// their hours' rows, after every completion under way (atrium_fold_all_task_minutes waits for
	// them): a tier with a limit checks the hourly rows alone, and its completions read the new tier.
	if _, err := tn.db().ExecContext(ctx, "SELECT atrium_fold_all_task_minutes(?)", ws.ID); err != nil {
		return ws.Tier, fmt.Errorf("change tier: fold minute slots: %w", err)
	}
	if err := EmitEvent(ctx, tn, "workspace.tier_changed", map[string]any{"from": ws.Tier, "to": to}, now); err != nil {
		return ws.Tier, err
	}
	return ws.Tier, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.tier_change", Target: ws.Slug,
		Details: map[string]any{"before": map[string]any{"tier": ws.Tier}, "after": map[string]any{"tier": to}}})
}
