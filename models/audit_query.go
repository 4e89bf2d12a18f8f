package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// AuditPageSize is how many events one page of the audit log shows.
const AuditPageSize = 50

// AuditFilter narrows a workspace's audit log.
type AuditFilter struct {
	// Action is an exact action name ("member.role_change"); empty for all.
	Action string
	// Actor is a person's email or an API key's prefix (atr_…); empty for all.
	Actor string
	// After is the cursor of the page before: events older than its last one follow.
	After string
	// From and To bound the events' time: From included, To excluded; zero for no bound.
	From, To time.Time
	// Limit caps the page; zero means AuditPageSize.
	Limit int
}

// AuditEntry is one audit event with who did it, as people read it.
type AuditEntry struct {
	ID          uuid.UUID      `bun:"id" json:"id"`
	CreatedAt   time.Time      `bun:"created_at" json:"created_at"`
	Action      string         `bun:"action" json:"action"`
	Target      string         `bun:"target" json:"target"`
	Details     map[string]any `bun:"details,type:jsonb" json:"details"`
	IP          string         `bun:"ip" json:"ip"`
	ActorUserID *uuid.UUID     `bun:"actor_user_id" json:"actor_user_id"`
	ActorEmail  string         `bun:"actor_email" json:"actor_email"`
	ActorName   string         `bun:"actor_name" json:"actor_name"`
	// ActorStaff is the actor's staff role: "support" marks a support person's look.
	ActorStaff     string     `bun:"actor_staff" json:"actor_staff"`
	ActorKeyID     *uuid.UUID `bun:"actor_key_id" json:"actor_key_id"`
	ActorKeyName   string     `bun:"actor_key_name" json:"actor_key_name"`
	ActorKeyPrefix string     `bun:"actor_key_prefix" json:"actor_key_prefix"`
	// TargetName is the name of the person the target (an email) is, when it is one; TargetKeyName
	// the name of the workspace's API key the target (a prefix) is, when it is one.
	TargetName    string `bun:"target_name" json:"target_name"`
	TargetKeyName string `bun:"target_key_name" json:"target_key_name"`
}

// Actor names who acted: a person, an API key, or the platform.
func (e *AuditEntry) Actor() string {
	switch {
	case e.ActorEmail != "" && e.ActorName != "":
		return e.ActorName + " <" + e.ActorEmail + ">"
	case e.ActorEmail != "":
		return e.ActorEmail
	case e.ActorUserID != nil:
		return "deleted user"
	case e.ActorKeyPrefix != "":
		return "API key " + e.ActorKeyName + " (" + e.ActorKeyPrefix + ")"
	case e.ActorKeyID != nil:
		return "deleted API key"
	}
	return "Atrium"
}

// DetailsText writes the details as "key: value" pairs in key order, nested values as JSON.
func (e *AuditEntry) DetailsText() string {
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var v string
		switch x := e.Details[k].(type) {
		case string:
			v = x
		default:
			b, _ := json.Marshal(x)
			v = string(b)
		}
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, ", ")
}

// AuditPage is one page of the audit log, newest first. Next is the cursor of the following
// (older) page, empty on the last.
type AuditPage struct {
	Entries []AuditEntry
	Next    string
	// Head is the chain head (ReadAuditPage fills it): the newest event's seq and hash, which an
	// owner can note down to prove later that nothing up to it changed. StartSeq is the seq of the
	// retention checkpoint the chain starts after, 0 when nothing was pruned.
	Head     ChainLink
	StartSeq int64
}

// cursorOf encodes where a page ended: the last event's time and id, the keyset of the order.
func cursorOf(e AuditEntry) string {
	raw := strconv.FormatInt(e.CreatedAt.UnixMicro(), 10) + "." + e.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseCursor decodes a cursor; ok is false for anything that is not one.
func parseCursor(s string) (at time.Time, id uuid.UUID, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return at, id, false
	}
	ts, rest, found := strings.Cut(string(raw), ".")
	if !found {
		return at, id, false
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return at, id, false
	}
	id, err = uuid.Parse(rest)
	if err != nil {
		return at, id, false
	}
	return time.UnixMicro(us).UTC(), id, true
}

// ListAudit reads one page of the tenant's workspace's audit log, newest first, with keyset
// pagination on (created_at, id), which the (workspace_id, created_at DESC, id DESC) index serves
// however deep the page. A cursor that is not one starts from the newest event. It runs inside
// the workspace's transaction.
func ListAudit(ctx context.Context, tn *Tenant, f AuditFilter) (*AuditPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = AuditPageSize
	}
	var entries []AuditEntry
	if err := auditQuery(tn, f, limit).Scan(ctx, &entries); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return auditPage(entries, limit), nil
}

// auditPage cuts the limit+1 entries read to a page and its cursor.
func auditPage(entries []AuditEntry, limit int) *AuditPage {
	p := &AuditPage{Entries: entries}
	if len(entries) > limit {
		p.Entries = entries[:limit]
		p.Next = cursorOf(p.Entries[limit-1])
	}
	return p
}

// ReadAuditPage is ListAudit and AuditActions in one statement: one page of the log that f
// matches, newest first, and the distinct actions of the whole log, for the filter. It runs
// inside the workspace's transaction.
func ReadAuditPage(ctx context.Context, tn *Tenant, f AuditFilter) (*AuditPage, []string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = AuditPageSize
	}
	var raw, acts, head string // not []byte: bun reads a first destination that is a slice as a list of rows
	var start int64
	err := tn.db().NewRaw(`SELECT
		  (SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.created_at DESC, e.id DESC), '[]') FROM (?) AS e) AS entries,
		  (SELECT coalesce(jsonb_agg(a.action ORDER BY a.action), '[]') FROM (
		     SELECT DISTINCT action FROM audit_events WHERE workspace_id = ?1) AS a) AS actions,
		  coalesce((SELECT json_build_object('seq', h.seq, 'hash', h.hash)::text FROM audit_chain_heads AS h WHERE h.workspace_id = ?1),
		    '{"seq":0,"hash":""}') AS head,
		  coalesce((SELECT c.seq FROM audit_checkpoints AS c WHERE c.workspace_id = ?1), 0) AS start`,
		auditQuery(tn, f, limit), tn.ws).Scan(ctx, &raw, &acts, &head, &start)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	var entries []AuditEntry
	var actions []string
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	if err := json.Unmarshal([]byte(acts), &actions); err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	for i := range entries {
		entries[i].CreatedAt = entries[i].CreatedAt.UTC()
	}
	p := auditPage(entries, limit)
	if err := json.Unmarshal([]byte(head), &p.Head); err != nil {
		return nil, nil, fmt.Errorf("audit chain head: %w", err)
	}
	p.StartSeq = start
	return p, actions, nil
}

// auditQuery selects limit+1 entries of the log that f matches, newest first, scoped to the
// tenant's workspace by its own condition (it also runs as a subquery, where the model hook does
// not reach).
func auditQuery(tn *Tenant, f AuditFilter, limit int) *bun.SelectQuery {
	q := tn.db().NewSelect().Model((*AuditEvent)(nil)).
		Where("ae.workspace_id = ?", tn.ws).
		ColumnExpr("ae.id, ae.created_at, ae.action, ae.target, ae.details, ae.ip, ae.actor_user_id, ae.actor_key_id").
		ColumnExpr("coalesce(u.email::text, '') AS actor_email, coalesce(u.name, '') AS actor_name, coalesce(u.staff_role, '') AS actor_staff").
		ColumnExpr("coalesce(k.name, '') AS actor_key_name, coalesce(k.prefix, '') AS actor_key_prefix").
		ColumnExpr("coalesce(tu.name, '') AS target_name, coalesce(tk.name, '') AS target_key_name").
		Join("LEFT JOIN users AS u ON u.id = ae.actor_user_id").
		Join("LEFT JOIN api_keys AS k ON k.workspace_id = ae.workspace_id AND k.id = ae.actor_key_id").
		// The target is a person's email or a key's prefix for most actions: both unique, indexed.
		Join("LEFT JOIN users AS tu ON tu.email = ae.target::citext").
		Join("LEFT JOIN api_keys AS tk ON tk.prefix = ae.target AND tk.workspace_id = ae.workspace_id").
		OrderExpr("ae.created_at DESC, ae.id DESC").
		Limit(int64(limit + 1))
	if a := strings.TrimSpace(f.Action); a != "" {
		q.Where("ae.action = ?", a)
	}
	if a := strings.TrimSpace(f.Actor); a != "" {
		q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("u.email = ?", a).WhereOr("k.prefix = ?", a)
		})
	}
	if !f.From.IsZero() {
		q.Where("ae.created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q.Where("ae.created_at < ?", f.To)
	}
	if at, id, ok := parseCursor(f.After); ok {
		q.Where("(ae.created_at, ae.id) < (?, ?)", at, id)
	}
	return q
}

// AuditActions lists the distinct actions in the tenant's workspace's audit log, for the filter.
func AuditActions(ctx context.Context, tn *Tenant) ([]string, error) {
	var out []string
	err := tn.db().NewSelect().Model((*AuditEvent)(nil)).ColumnExpr("DISTINCT ae.action").OrderExpr("ae.action").Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("audit actions: %w", err)
	}
	return out, nil
}

// AuditCSVHeader names the columns of AuditEntry.CSVRecord.
var AuditCSVHeader = []string{"time_utc", "actor", "actor_email", "actor_staff_role", "api_key", "action", "target", "details", "ip"}

// CSVRecord is the entry as a CSV record in the AuditCSVHeader columns; details are JSON.
func (e *AuditEntry) CSVRecord() []string {
	details := "{}"
	if len(e.Details) > 0 {
		b, _ := json.Marshal(e.Details)
		details = string(b)
	}
	return []string{e.CreatedAt.UTC().Format(time.RFC3339Nano), e.Actor(), e.ActorEmail, e.ActorStaff, e.ActorKeyPrefix,
		e.Action, e.Target, details, e.IP}
}

// EachAudit calls fn for every event of the tenant's workspace's audit log that f matches,
// newest first, reading a thousand at a time so a long log never sits in memory whole.
func EachAudit(ctx context.Context, tn *Tenant, f AuditFilter, fn func(*AuditEntry) error) error {
	f.Limit = 1000
	for {
		p, err := ListAudit(ctx, tn, f)
		if err != nil {
			return err
		}
		for i := range p.Entries {
			if err := fn(&p.Entries[i]); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		f.After = p.Next
	}
}

// ParseAuditRange reads the audit log's date range, two UTC calendar dates ("2026-11-30") either
// of which may be empty, into AuditFilter's From (the first day's start) and To (the day after
// the last one's start). A date that is not one, or a range that ends before it starts, is a
// ValidationError on "from" or "to".
func ParseAuditRange(from, to string) (start, end time.Time, err error) {
	var v ValidationError
	day := func(field, s string) time.Time {
		s = strings.TrimSpace(s)
		if s == "" {
			return time.Time{}
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || d.Year() < 2000 || d.Year() > 9999 {
			v.Add(field, "Enter a date as YYYY-MM-DD.")
			return time.Time{}
		}
		return d
	}
	start, last := day("from", from), day("to", to)
	if !last.IsZero() {
		end = last.AddDate(0, 0, 1)
	}
	if !start.IsZero() && !last.IsZero() && last.Before(start) {
		v.Add("to", "The range ends before it starts.")
	}
	if err := v.Err(); err != nil {
		return time.Time{}, time.Time{}, err
	}
	return start, end, nil
}
