package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// LimitKind names one of the tier's four limits for quota alerts.
type LimitKind string

// The four limits, in the order the console lists them.
const (
	LimitAgentMinutes    LimitKind = "agent_minutes"
	LimitAPICalls        LimitKind = "api_calls"
	LimitConcurrentTasks LimitKind = "concurrent_tasks"
	LimitMembers         LimitKind = "members"
)

// LimitKinds is every limit an alert can watch.
var LimitKinds = []LimitKind{LimitAgentMinutes, LimitAPICalls, LimitConcurrentTasks, LimitMembers}

// Label is the limit's name for people.
func (k LimitKind) Label() string {
	switch k {
	case LimitAgentMinutes:
		return "Agent-minutes per month"
	case LimitAPICalls:
		return "API calls per hour"
	case LimitConcurrentTasks:
		return "Concurrent tasks"
	case LimitMembers:
		return "Members (seats)"
	}
	return string(k)
}

// Of is the limit of kind k among l.
func (k LimitKind) Of(l TierLimits) Limit {
	switch k {
	case LimitAgentMinutes:
		return l.AgentMinutesPerMonth
	case LimitAPICalls:
		return l.APICallsPerHour
	case LimitConcurrentTasks:
		return l.ConcurrentTasks
	}
	return l.Members
}

// PeriodStart is the period an alert of kind k at now belongs to: the hour for API calls, the UTC
// calendar month for agent-minutes, the UTC day for concurrent tasks and seats (which alert at
// most once a day).
func (k LimitKind) PeriodStart(now time.Time) time.Time {
	now = now.UTC()
	switch k {
	case LimitAPICalls:
		return now.Truncate(time.Hour)
	case LimitAgentMinutes:
		return MonthStart(now)
	}
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// Period says which period an alert of kind k is for, for people.
func (k LimitKind) Period(start time.Time) string {
	start = start.UTC()
	switch k {
	case LimitAPICalls:
		return "the hour from " + start.Format("Jan 2, 2006 15:04 UTC")
	case LimitAgentMinutes:
		return start.Format("January 2006")
	}
	return start.Format("Jan 2, 2006") + " (UTC)"
}

// Who is told of a limit's alerts.
const (
	RecipientsOwners = "owners" // the workspace's owners
	RecipientsAdmins = "admins" // its owners and admins
	RecipientsList   = "list"   // a list of addresses
)

// DefaultThresholds are the shares of a limit that alert unless the owner chooses others.
var DefaultThresholds = []int{80, 100}

// MaxAlertAddresses is how many addresses one limit's alerts may go to.
const MaxAlertAddresses = 20

// AlertSetting is one limit's alert: on or off, at which percentages of the limit, and to whom.
type AlertSetting struct {
	bun.BaseModel `bun:"table:quota_alert_settings,alias:qas"`
	Scoped

	Kind       LimitKind `bun:"limit_kind,pk"`
	Enabled    bool      `bun:"enabled"`
	Thresholds []int     `bun:"thresholds,array"`
	Recipients string    `bun:"recipients"`
	Addresses  []string  `bun:"addresses,array"`
	UpdatedAt  time.Time `bun:"updated_at"`
}

// QuotaAlert is one threshold crossed in one period.
type QuotaAlert struct {
	bun.BaseModel `bun:"table:quota_alerts,alias:qa"`
	Scoped

	Kind        LimitKind  `bun:"limit_kind,pk" json:"limit_kind"`
	Threshold   int        `bun:"threshold,pk" json:"threshold"`
	PeriodStart time.Time  `bun:"period_start,pk" json:"period_start"`
	Used        int64      `bun:"used" json:"used"`
	Limit       int64      `bun:"limit_value" json:"limit_value"`
	CrossedAt   time.Time  `bun:"crossed_at" json:"crossed_at"`
	NotifiedAt  *time.Time `bun:"notified_at" json:"notified_at"`
}

// currentAlerts keeps those of the alerts (JSON, as the usage statement reads them) whose period
// is running at now.
func (s *Snapshot) currentAlerts(raw []byte, now time.Time) error {
	var all []QuotaAlert
	if err := json.Unmarshal(raw, &all); err != nil {
		return fmt.Errorf("usage alerts: %w", err)
	}
	for _, a := range all {
		if a.Current(now) {
			s.Alerts = append(s.Alerts, a)
		}
	}
	return nil
}

// AlertsOverview is the alerts page's reading: every limit's setting (as AlertSettings) and the
// alerts crossed since since, newest first, at most limit, in one statement.
func AlertsOverview(ctx context.Context, tn *Tenant, since time.Time, limit int) ([]AlertSetting, []QuotaAlert, error) {
	var rawSettings, rawAlerts []byte
	err := tn.queryRow(ctx, `SELECT
		  (SELECT coalesce(jsonb_agg(jsonb_build_object('limit_kind', limit_kind, 'enabled', enabled, 'thresholds', thresholds,
		      'recipients', recipients, 'addresses', addresses)), '[]') FROM quota_alert_settings WHERE workspace_id = $1),
		  (SELECT coalesce(jsonb_agg(jsonb_build_object('limit_kind', limit_kind, 'threshold', threshold, 'period_start', period_start,
		      'used', used, 'limit_value', limit_value, 'crossed_at', crossed_at) ORDER BY crossed_at DESC, limit_kind, threshold DESC), '[]')
		    FROM (SELECT * FROM quota_alerts WHERE workspace_id = $1 AND crossed_at >= $2
		          ORDER BY crossed_at DESC, limit_kind, threshold DESC LIMIT $3) AS a)`,
		tn.ws, since, limit).Scan(&rawSettings, &rawAlerts)
	if err != nil {
		return nil, nil, fmt.Errorf("alerts overview: %w", err)
	}
	var rows []struct {
		Kind       LimitKind `json:"limit_kind"`
		Enabled    bool      `json:"enabled"`
		Thresholds []int     `json:"thresholds"`
		Recipients string    `json:"recipients"`
		Addresses  []string  `json:"addresses"`
	}
	var alerts []QuotaAlert
	if err := json.Unmarshal(rawSettings, &rows); err != nil {
		return nil, nil, fmt.Errorf("alert settings: %w", err)
	}
	if err := json.Unmarshal(rawAlerts, &alerts); err != nil {
		return nil, nil, fmt.Errorf("quota alerts: %w", err)
	}
	var stored []AlertSetting
	for _, r := range rows {
		stored = append(stored, AlertSetting{Scoped: Scoped{WorkspaceID: tn.ws}, Kind: r.Kind, Enabled: r.Enabled,
			Thresholds: r.Thresholds, Recipients: r.Recipients, Addresses: r.Addresses})
	}
	return withDefaults(tn, stored), alerts, nil
}

// withDefaults is one setting per limit, in LimitKinds' order: the stored one, or off with the
// default thresholds and the owners as recipients.
func withDefaults(tn *Tenant, stored []AlertSetting) []AlertSetting {
	out := make([]AlertSetting, 0, len(LimitKinds))
	for _, k := range LimitKinds {
		s := AlertSetting{Scoped: Scoped{WorkspaceID: tn.ws}, Kind: k, Thresholds: slices.Clone(DefaultThresholds), Recipients: RecipientsOwners}
		for _, r := range stored {
			if r.Kind == k {
				s = r
			}
		}
		out = append(out, s)
	}
	return out
}

// AlertSettings reads the alert of each limit of the tenant's workspace, in LimitKinds' order; a
// limit without one comes back off, with the default thresholds and the owners as recipients.
func AlertSettings(ctx context.Context, tn *Tenant) ([]AlertSetting, error) {
	var rows []AlertSetting
	if err := tn.db().NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, fmt.Errorf("alert settings: %w", err)
	}
	return withDefaults(tn, rows), nil
}

// AlertInput is one limit's alert as the settings form sends it.
type AlertInput struct {
	Kind       LimitKind
	Enabled    bool
	Thresholds string // percentages, comma or space separated
	Recipients string
	Addresses  string // comma, space or newline separated
}

// field names a form field of one limit's alert, as the validation errors key it.
func (in AlertInput) field(name string) string { return string(in.Kind) + "." + name }

// ParseThresholds reads percentages between 1 and 100, comma or space separated: at least one,
// at most five, each once, in increasing order.
func ParseThresholds(s string) ([]int, string) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == ';' || r == '%' || r == '\n' || r == '\r' || r == '\t'
	}) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Sprintf("%q is not a percentage from 1 to 100.", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, "Enter at least one percentage, such as 80, 100."
	}
	if len(out) > 5 {
		return nil, "Enter at most five percentages."
	}
	slices.Sort(out)
	return out, ""
}

// ParseAlertAddresses reads email addresses separated by commas, spaces or lines.
func ParseAlertAddresses(s string) ([]string, string) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' || r == '\n' || r == '\r' || r == '\t' }) {
		e, ok := NormalizeEmail(f)
		if !ok {
			return nil, fmt.Sprintf("%q is not an email address.", f)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) > MaxAlertAddresses {
		return nil, fmt.Sprintf("Enter at most %d addresses.", MaxAlertAddresses)
	}
	return out, ""
}

// SaveAlertSettings stores the alerts of the tenant's workspace, all limits at once; only owners
// may. Every problem is reported by field (kind.thresholds, kind.addresses, kind.recipients) and
// nothing is stored while there is one. The change is audited (quota_alerts.update).
func SaveAlertSettings(ctx context.Context, tn *Tenant, actor Actor, ins []AlertInput, now time.Time) ([]AlertSetting, error) {
	me, err := confirmActor(ctx, tn, actor)
	if err != nil {
		return nil, err
	}
	if !me.Role.Can(ActManageAlerts) {
		return nil, Errorf(ErrForbidden, "Only owners change quota alerts.")
	}
	var v ValidationError
	var out []AlertSetting
	for _, in := range ins {
		if !slices.Contains(LimitKinds, in.Kind) {
			return nil, Errorf(ErrNotFound, "no such limit")
		}
		s := AlertSetting{Scoped: Scoped{WorkspaceID: tn.ws}, Kind: in.Kind, Enabled: in.Enabled, Recipients: in.Recipients, UpdatedAt: now}
		var msg string
		if s.Thresholds, msg = ParseThresholds(in.Thresholds); msg != "" {
			v.Add(in.field("thresholds"), msg)
		}
		switch in.Recipients {
		case RecipientsOwners, RecipientsAdmins:
		case RecipientsList:
			if s.Addresses, msg = ParseAlertAddresses(in.Addresses); msg != "" {
				v.Add(in.field("addresses"), msg)
			} else if len(s.Addresses) == 0 {
				v.Add(in.field("addresses"), "Enter at least one email address, or choose owners or admins.")
			}
		default:
			v.Add(in.field("recipients"), "Choose owners, owners and admins, or a list of addresses.")
		}
		if s.Addresses == nil {
			s.Addresses = []string{}
		}
		out = append(out, s)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	// The scope hook does not cover ON CONFLICT DO UPDATE: the rows carry the workspace, and the
	// conflict target leads with it, so an upsert touches only this workspace's rows (and
	// row-level security holds it to them).
	if _, err := tn.db().NewInsert().Model(&out).
		On("CONFLICT (workspace_id, limit_kind) DO UPDATE").
		Set("enabled = EXCLUDED.enabled, thresholds = EXCLUDED.thresholds, recipients = EXCLUDED.recipients").
		Set("addresses = EXCLUDED.addresses, updated_at = EXCLUDED.updated_at").
		Exec(ctx); err != nil {
		return nil, fmt.Errorf("save alert settings: %w", err)
	}
	details := map[string]any{}
	for _, s := range out {
		d := map[string]any{"enabled": s.Enabled, "thresholds": s.Thresholds, "recipients": s.Recipients}
		if s.Recipients == RecipientsList {
			d["addresses"] = len(s.Addresses)
		}
		details[string(s.Kind)] = d
	}
	if err := Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "quota_alerts.update", Target: "quota alerts", Details: details}); err != nil {
		return nil, err
	}
	return out, nil
}

// RecentQuotaAlerts lists the tenant's alerts crossed since since, newest first, at most limit.
func RecentQuotaAlerts(ctx context.Context, tn *Tenant, since time.Time, limit int64) ([]QuotaAlert, error) {
	var out []QuotaAlert
	err := tn.db().NewSelect().Model(&out).Where("crossed_at >= ?", since).
		Order("crossed_at DESC", "limit_kind", "threshold DESC").Limit(limit).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("quota alerts: %w", err)
	}
	return out, nil
}

// Current reports whether the alert's period is still running at now: an alert of this hour, this
// month or today.
func (a *QuotaAlert) Current(now time.Time) bool {
	return a.Kind.PeriodStart(now).Equal(a.PeriodStart.UTC())
}

// QuotaAlertArgs is the job that tells people of one threshold crossed: the counting statement
// that crossed it queues the job in its own transaction (atrium_quota_alert), and the job queues
// the mail and the webhook event.
type QuotaAlertArgs struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	Limit       LimitKind `json:"limit_kind"`
	Threshold   int       `json:"threshold"`
	PeriodStart time.Time `json:"period_start"`
}

// Kind names the job for the queue.
func (QuotaAlertArgs) Kind() string { return "quota_alert" }

// QuotaAlertMail is what a quota alert of workspace ws says to one recipient.
type QuotaAlertMail func(to string, ws *Workspace, a *QuotaAlert) Mail

// DeliverQuotaAlert queues the mail of one crossed threshold to each of its recipients, and its
// webhook event, in one transaction of the alert's workspace that also marks the alert notified:
// a job that runs twice tells nobody twice. An alert already notified, or gone with its
// workspace, does nothing. It reports how many messages it queued.
func DeliverQuotaAlert(ctx context.Context, db bun.IDB, args QuotaAlertArgs, compose QuotaAlertMail, now time.Time) (int, error) {
	queued := 0
	err := InWorkspace(ctx, db, args.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		a := new(QuotaAlert)
		err := tn.db().NewUpdate().Model(a).Set("notified_at = ?", now).
			Where("limit_kind = ? AND threshold = ? AND period_start = ? AND notified_at IS NULL", args.Limit, args.Threshold, args.PeriodStart).
			Returning("*").Scan(ctx)
		if errors.Is(notFound(err, "alert"), ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim quota alert: %w", err)
		}
		ws := new(Workspace)
		if err := tn.db().NewSelect().Model(ws).Column("id", "name", "slug", "tier").Where("id = ?", tn.ws).Scan(ctx); err != nil {
			return notFound(err, "workspace")
		}
		to, err := AlertRecipients(ctx, tn, a.Kind)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("quota-alert:%s:%s:%d:%s:", tn.ws, a.Kind, a.Threshold, a.PeriodStart.UTC().Format(time.RFC3339))
		for _, addr := range to {
			if err := QueueWorkspaceMail(ctx, tn, key+addr, compose(addr, ws, a), now); err != nil {
				return err
			}
			queued++
		}
		return emitQuotaEvent(ctx, tn, a, now)
	})
	return queued, err
}

// AlertRecipients resolves who is told of kind's alerts in the tenant's workspace: its owners, its
// owners and admins (accounts not disabled), or the setting's own list.
func AlertRecipients(ctx context.Context, tn *Tenant, kind LimitKind) ([]string, error) {
	s := new(AlertSetting)
	if err := tn.db().NewSelect().Model(s).Where("limit_kind = ?", kind).Scan(ctx); err != nil {
		return nil, notFound(err, "alert setting")
	}
	if s.Recipients == RecipientsList {
		return s.Addresses, nil
	}
	roles := []Role{RoleOwner}
	if s.Recipients == RecipientsAdmins {
		roles = append(roles, RoleAdmin)
	}
	var out []string
	err := tn.db().NewSelect().Model((*Member)(nil)).ColumnExpr("u.email").
		Join("JOIN users AS u ON u.id = m.user_id").
		Where("m.role IN (?) AND u.disabled_at IS NULL", bun.List(roles)).OrderExpr("u.email").Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("alert recipients: %w", err)
	}
	return out, nil
}

// quotaAlertEvent is the webhook event's data for one crossed threshold.
func quotaAlertEvent(a *QuotaAlert) map[string]any {
	return map[string]any{"limit": string(a.Kind), "threshold_percent": a.Threshold, "used": a.Used, "limit_value": a.Limit,
		"period_start": a.PeriodStart.UTC().Format(time.RFC3339), "crossed_at": a.CrossedAt.UTC().Format(time.RFC3339)}
}

// seatAlert records a crossed seat threshold in the tenant's transaction, after a change that
// took a seat.
func seatAlert(ctx context.Context, tn *Tenant, tier Tier, now time.Time) error {
	return useAlert(ctx, tn, LimitMembers, tier, now)
}

// useAlert checks kind's use against its thresholds in the tenant's transaction
// (atrium_quota_use_alert): one statement that reads one settings row when the limit has no
// alerts.
func useAlert(ctx context.Context, tn *Tenant, kind LimitKind, tier Tier, now time.Time) error {
	limit, ok := kind.Of(tier.Limits()).Value()
	if !ok {
		return nil
	}
	if _, err := tn.db().ExecContext(ctx, "SELECT atrium_quota_use_alert(?, ?, ?, ?, ?)",
		tn.ws, string(kind), kind.PeriodStart(now), limit, now.UTC()); err != nil {
		return fmt.Errorf("quota alert: %w", err)
	}
	return nil
}
