package models

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// UsageMonth is a workspace's agent-minutes of one UTC calendar month, kept by database triggers
// on usage_hourly (baseline migration) for the support console's table of all workspaces.
// The hourly rows stay the source of truth.
type UsageMonth struct {
	bun.BaseModel `bun:"table:usage_monthly,alias:um"`
	Scoped

	Month        time.Time `bun:"month,pk"`
	AgentMinutes int64     `bun:"agent_minutes"`
}

// SupportPageSize is how many workspaces one page of the support table shows.
const SupportPageSize = 50

// SupportSorts are the support table's sort keys, each with the SQL it orders by. Percentages of
// an unlimited tier are NULL, so they sort after every limited one.
var SupportSorts = map[string]string{
	"name":              "lower(t.name)",
	"slug":              "t.slug",
	"tier":              "t.tier",
	"created":           "t.created_at",
	"members":           "t.members + t.pending",
	"members_pct":       "(t.members + t.pending)::float8 / t.lim_members",
	"agent_minutes":     "t.agent_minutes",
	"agent_minutes_pct": "t.agent_minutes::float8 / t.lim_agent_minutes",
	"api_calls":         "t.api_calls",
	"api_calls_pct":     "t.api_calls::float8 / t.lim_api_calls",
}

// SupportSortKeys are the keys of SupportSorts, in the order of the table's columns.
var SupportSortKeys = []string{"name", "slug", "tier", "created", "members", "members_pct",
	"agent_minutes", "agent_minutes_pct", "api_calls", "api_calls_pct"}

// SupportQuery asks for a page of the support table.
type SupportQuery struct {
	// Q matches a workspace's name or slug (substring, any case) or a member's email.
	Q string
	// Sort is a key of SupportSorts; anything else sorts by name.
	Sort string
	Desc bool
	// Page numbers from 1; PerPage zero means every row (the CSV export).
	Page, PerPage int
}

// SupportRow is one workspace as support sees it: counts and use, nothing inside.
type SupportRow struct {
	ID           uuid.UUID `bun:"id"`
	Name         string    `bun:"name"`
	Slug         string    `bun:"slug"`
	Tier         Tier      `bun:"tier"`
	CreatedAt    time.Time `bun:"created_at"`
	Members      int64     `bun:"members"`
	Pending      int64     `bun:"pending"`
	AgentMinutes int64     `bun:"agent_minutes"`
	APICalls     int64     `bun:"api_calls"`
	Total        int       `bun:"total"`
}

// Seats is members plus pending invitations: what the member limit counts.
func (r *SupportRow) Seats() int64 { return r.Members + r.Pending }

// SupportListing is one page of the support table.
type SupportListing struct {
	Rows               []SupportRow
	Page, Pages, Total int
	// Month and Hour are the periods the use columns count.
	Month, Hour time.Time
}

// SupportCSVHeader names the columns of SupportRow.CSVRecord.
var SupportCSVHeader = []string{"name", "slug", "tier", "members", "pending_invitations", "member_limit", "members_pct",
	"agent_minutes_month", "agent_minutes_limit", "agent_minutes_pct", "api_calls_hour", "api_calls_limit", "api_calls_pct", "created_at"}

// CSVRecord is the row in the SupportCSVHeader columns; an unlimited limit and its percentage are
// empty.
func (r *SupportRow) CSVRecord() []string {
	lim := r.Tier.Limits()
	limit := func(l Limit) string {
		if n, ok := l.Value(); ok {
			return strconv.FormatInt(n, 10)
		}
		return ""
	}
	pct := func(l Limit, used int64) string {
		if l.IsUnlimited() {
			return ""
		}
		return strconv.FormatFloat(math.Round(l.Percent(used)*10)/10, 'f', 1, 64)
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{r.Name, r.Slug, string(r.Tier), i(r.Members), i(r.Pending), limit(lim.Members), pct(lim.Members, r.Seats()),
		i(r.AgentMinutes), limit(lim.AgentMinutesPerMonth), pct(lim.AgentMinutesPerMonth, r.AgentMinutes),
		i(r.APICalls), limit(lim.APICallsPerHour), pct(lim.APICallsPerHour, r.APICalls), r.CreatedAt.UTC().Format(time.RFC3339)}
}

// tierLimitsSQL is the tier limits as an SQL VALUES list, NULL for unlimited, so the percentage
// sorts use the same numbers as the Go code.
func tierLimitsSQL() string {
	v := func(l Limit) string {
		if n, ok := l.Value(); ok {
			return strconv.FormatInt(n, 10)
		}
		return "NULL"
	}
	rows := make([]string, 0, len(Tiers))
	for _, t := range Tiers {
		l := t.Limits()
		rows = append(rows, fmt.Sprintf("('%s'::workspace_tier, %s::bigint, %s::bigint, %s::bigint)", t, v(l.AgentMinutesPerMonth), v(l.APICallsPerHour), v(l.Members)))
	}
	return "(VALUES " + strings.Join(rows, ", ") + ") AS lim (tier, agent_minutes, api_calls, members)"
}

// likePattern makes a substring pattern for ILIKE with the user's %, _ and \ taken literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// SupportWorkspaces is the support console's table of all workspaces: tier, members and pending
// invitations, agent-minutes this month, API calls this hour, searchable, sortable and paginated.
// Only support staff may read it (anyone else: ErrNotFound). It reads across tenants in a read-only
// transaction, the numbers through atrium_support_workspaces (baseline migration): the
// month's minutes from the usage_monthly rollup, this hour's calls from one row per workspace.
func SupportWorkspaces(ctx context.Context, db bun.IDB, viewer *User, q SupportQuery, now time.Time) (*SupportListing, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, Errorf(ErrNotFound, "not found")
	}
	now = now.UTC()
	l := &SupportListing{Month: MonthStart(now), Hour: now.Truncate(time.Hour),
		Page: min(max(q.Page, 1), maxListPage)} // a page past the end answers empty; no offset overflows
	order, ok := SupportSorts[q.Sort]
	if !ok {
		order = SupportSorts["name"]
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	var where string
	var whereArgs []any
	if s := strings.TrimSpace(q.Q); s != "" {
		p := likePattern(s)
		where = `WHERE w.name ILIKE ? OR w.slug ILIKE ? OR w.id IN (
			SELECT m.workspace_id FROM workspace_members AS m JOIN users AS u ON u.id = m.user_id WHERE u.email::text ILIKE ?)`
		whereArgs = []any{p, p, p}
	}
	args := append([]any{now}, whereArgs...)
	// The inner query gathers every workspace's numbers (and counts the matches before any LIMIT);
	// the outer one orders by an expression over them.
	query := `SELECT t.id, t.name, t.slug, t.tier, t.created_at, t.members, t.pending, t.agent_minutes, t.api_calls, t.total
	FROM (
		SELECT w.*, lim.agent_minutes AS lim_agent_minutes, lim.api_calls AS lim_api_calls, lim.members AS lim_members,
			count(*) OVER () AS total
		FROM atrium_support_workspaces(?) AS w
		JOIN ` + tierLimitsSQL() + ` ON lim.tier = w.tier
		` + where + `
	) AS t
	ORDER BY ` + order + ` ` + dir + ` NULLS LAST, t.slug`
	if q.PerPage > 0 {
		query += ` LIMIT ? OFFSET ?`
		args = append(args, q.PerPage, (l.Page-1)*q.PerPage)
	}
	err := ReadAcrossTenants(ctx, db, "support: table of workspaces", func(ctx context.Context, all *AllTenants) error {
		if err := all.db().NewRaw(query, args...).Scan(ctx, &l.Rows); err != nil {
			return err
		}
		if len(l.Rows) > 0 {
			l.Total = l.Rows[0].Total
			return nil
		}
		// A page past the end still says how many there are, so it can link back.
		return all.db().NewRaw(`SELECT count(*) FROM workspaces AS w `+where, whereArgs...).Scan(ctx, &l.Total)
	})
	if err != nil {
		return nil, fmt.Errorf("support table: %w", err)
	}
	l.Pages = 1
	if q.PerPage > 0 && l.Total > 0 {
		l.Pages = (l.Total + q.PerPage - 1) / q.PerPage
	}
	return l, nil
}

// maxListPage is the highest page number a listing reads; any higher one is read as it.
const maxListPage = 1 << 20

// SupportWorkspaceView is what support sees of one workspace: its facts, its use against its
// tier, and its use over a range of days. Never its keys, tasks or messages.
type SupportWorkspaceView struct {
	Workspace *Workspace
	// Members excludes pending invitations; Usage.Members counts both, as the limit does.
	Members int64
	Usage   *Snapshot
	Month   MonthTotals
	Series  *UsageSeries
}

// SupportWorkspace reads one workspace's usage for support by its slug, in a read-only
// cross-tenant transaction. Only support staff may (anyone else: ErrNotFound). The caller records
// the look with RecordSupportView before showing it.
func SupportWorkspace(ctx context.Context, db bun.IDB, viewer *User, slug string, now time.Time, days int) (*SupportWorkspaceView, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, Errorf(ErrNotFound, "not found")
	}
	return supportWorkspace(ctx, db, slug, nil, now, days)
}

// supportWorkspace is SupportWorkspace for the workspace slug, or for ws when the caller has its
// row already (then it is not read again).
func supportWorkspace(ctx context.Context, db bun.IDB, slug string, ws *Workspace, now time.Time, days int) (*SupportWorkspaceView, error) {
	v := &SupportWorkspaceView{Workspace: ws}
	err := ReadAcrossTenants(ctx, db, "support: usage of workspace "+slug, func(ctx context.Context, all *AllTenants) error {
		if v.Workspace == nil {
			ws := new(Workspace)
			if err := all.db().NewSelect().Model(ws).Where("slug = ?", slug).Scan(ctx); err != nil {
				return notFound(err, "workspace")
			}
			v.Workspace = ws
		}
		// Narrowed to the one workspace, row-level security and the model hooks scope every read
		// below to it again.
		return all.InWorkspace(ctx, v.Workspace.ID, func(ctx context.Context, tn *Tenant) error {
			var err error
			if v.Usage, err = CurrentUsage(ctx, tn, v.Workspace.Tier, now); err != nil {
				return err
			}
			if v.Members, err = CountMembers(ctx, tn); err != nil {
				return err
			}
			if v.Month, err = MonthUsage(ctx, tn, now); err != nil {
				return err
			}
			v.Series, err = UsageOver(ctx, tn, now, days)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// RecordSupportView writes a support person's look at a workspace into that workspace's audit log,
// where its owners and admins see it. The runtime role may add audit lines only inside the
// workspace's own binding, so this is a transaction of its own, never the read-only one.
func RecordSupportView(ctx context.Context, db bun.IDB, viewer *User, ws *Workspace, page string, details map[string]any, now time.Time) error {
	if viewer == nil || !viewer.IsSupport() {
		return Errorf(ErrNotFound, "not found")
	}
	if details == nil {
		details = map[string]any{}
	}
	details["page"] = page
	return InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *Tenant) error {
		return Record(ctx, tn, Event{At: now, ActorUserID: viewer.ID, Action: "support.view", Target: ws.Slug, Details: details})
	})
}

// SupportSearch is the support console's table (SupportWorkspaces). A search is recorded in the
// platform log with its number of results: who looked for whom, since a search by a member's email
// says where that person works. The table is read from read (a replica, or db itself); the record
// is written to db.
func SupportSearch(ctx context.Context, db, read bun.IDB, viewer *User, q SupportQuery, now time.Time) (*SupportListing, error) {
	l, err := SupportWorkspaces(ctx, read, viewer, q, now)
	if err != nil {
		return nil, err
	}
	if q.Q != "" {
		if err := RecordPlatform(ctx, db, Event{At: now, ActorUserID: viewer.ID, Action: "support.search", Target: q.Q,
			Details: map[string]any{"results": l.Total}}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// SupportExport is every row of the support table that q matches, in its order, for a download;
// the export is recorded in the platform log (on db; the rows are read from read).
func SupportExport(ctx context.Context, db, read bun.IDB, viewer *User, q SupportQuery, now time.Time) (*SupportListing, error) {
	q.Page, q.PerPage = 1, 0
	l, err := SupportWorkspaces(ctx, read, viewer, q, now)
	if err != nil {
		return nil, err
	}
	if err := RecordPlatform(ctx, db, Event{At: now, ActorUserID: viewer.ID, Action: "support.export", Target: q.Q,
		Details: map[string]any{"rows": len(l.Rows), "sort": q.Sort}}); err != nil {
		return nil, err
	}
	return l, nil
}

// SupportUsage is support's look at one workspace's usage under the access acc (the viewer's, in
// force: LookupSupportAccess), written to the workspace's audit log with the grant's reason and
// ticket (RecordSupportView, on db) before it is returned to be shown; the usage is read from
// read. Without a grant in force nothing is read (ErrForbidden).
func SupportUsage(ctx context.Context, db, read bun.IDB, viewer *User, acc *SupportAccess, now time.Time, days int) (*SupportWorkspaceView, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, Errorf(ErrNotFound, "not found")
	}
	g := acc.Grant
	if g == nil || !now.Before(g.ExpiresAt) || g.WorkspaceID != acc.Workspace.ID || g.SupportUserID != viewer.ID {
		return nil, Errorf(ErrForbidden, "Give a reason before you open this workspace.")
	}
	v, err := supportWorkspace(ctx, read, acc.Workspace.Slug, acc.Workspace, now, days)
	if err != nil {
		return nil, err
	}
	if err := RecordSupportView(ctx, db, viewer, v.Workspace, "usage", map[string]any{"range_days": days,
		"reason": g.Reason, "ticket": g.Ticket, "grant_id": g.ID.String()}, now); err != nil {
		return nil, err
	}
	return v, nil
}
