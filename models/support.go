package models

import (
	"context"
	"encoding/json"
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
// Only support staff may read it (anyone else: ErrNotFound). It reads across tenants in one
// statement whose implicit transaction is read-only (readAcrossTenantsOnce), the numbers through
// atrium_support_workspaces (baseline migration): the month's minutes from the usage_monthly
// rollup, this hour's calls from one row per workspace. The page's rows and the number of all
// matches come in the same statement (one round trip, a page past the end included).
func SupportWorkspaces(ctx context.Context, db *bun.DB, viewer *User, q SupportQuery, now time.Time) (*SupportListing, error) {
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
	args := []any{now}
	var where string
	if s := strings.TrimSpace(q.Q); s != "" {
		args = append(args, likePattern(s))
		where = `WHERE w.name ILIKE $2 OR w.slug ILIKE $2 OR w.id IN (
			SELECT m.workspace_id FROM workspace_members AS m JOIN users AS u ON u.id = m.user_id WHERE u.email::text ILIKE $2)`
	}
	var limit string
	if q.PerPage > 0 {
		args = append(args, q.PerPage, (l.Page-1)*q.PerPage)
		limit = fmt.Sprintf(` LIMIT $%d OFFSET $%d`, len(args)-1, len(args))
	}
	// m gathers every matching workspace's numbers; the count of all of them is joined with the
	// page's rows, ordered by an expression over them, so a page past the end is one row of NULLs
	// that still says how many there are (it links back).
	orderBy := ` ORDER BY ` + order + ` ` + dir + ` NULLS LAST, t.slug`
	query := `WITH m AS MATERIALIZED (
		SELECT w.id, w.name, w.slug, w.tier, w.created_at, w.members, w.pending, w.agent_minutes, w.api_calls,
			lim.agent_minutes AS lim_agent_minutes, lim.api_calls AS lim_api_calls, lim.members AS lim_members
		FROM atrium_support_workspaces($1) AS w
		JOIN ` + tierLimitsSQL() + ` ON lim.tier = w.tier
		` + where + `
	)
	SELECT t.id, t.name, t.slug, t.tier::text, t.created_at, t.members, t.pending, t.agent_minutes, t.api_calls, c.total
	FROM (SELECT count(*) AS total FROM m) AS c
	LEFT JOIN LATERAL (SELECT * FROM m AS t` + orderBy + limit + `) AS t ON true` + orderBy
	err := readAcrossTenantsOnce(ctx, db, "support: table of workspaces", query, args, func(rows rowsScanner) error {
		for rows.Next() {
			var (
				id                                  *uuid.UUID
				name, slug, tier                    *string
				created                             *time.Time
				members, pending, minutes, apiCalls *int64
			)
			if err := rows.Scan(&id, &name, &slug, &tier, &created, &members, &pending, &minutes, &apiCalls, &l.Total); err != nil {
				return err
			}
			if id == nil { // no row on this page
				continue
			}
			l.Rows = append(l.Rows, SupportRow{ID: *id, Name: *name, Slug: *slug, Tier: Tier(*tier), CreatedAt: *created,
				Members: *members, Pending: *pending, AgentMinutes: *minutes, APICalls: *apiCalls, Total: l.Total})
		}
		return rows.Err()
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

// supportUsageSQL is everything support's look at a workspace shows, in one statement: the
// snapshot's figures and alerts (usageNowColumns, usageAlertsColumn, $1 to $5), its running tasks
// (runningTasksSQL: the whole statement is planned at each call), the members without pending
// invitations, the month's API calls and agent-minutes summed from the hours (as
// MonthUsage sums them), and the hours of the range ($6 to $7, as UsageOver reads them) as JSON
// arrays [hour, api_calls, agent_minutes], the hour in Unix seconds.
const supportUsageSQL = `SELECT
		  ` + usageNowColumns + `,
		  ` + usageAlertsColumn + `,
		  (` + runningTasksSQL + `),
		  (SELECT count(*) FROM workspace_members WHERE workspace_id = $1),
		  mo.api_calls, mo.agent_minutes,
		  (SELECT coalesce(json_agg(json_build_array(extract(epoch FROM h.hour)::bigint, h.api_calls, h.agent_minutes) ORDER BY h.hour), '[]')
		    FROM usage_hourly_total AS h WHERE h.workspace_id = $1 AND h.hour >= $6 AND h.hour < $7)
		FROM (SELECT coalesce(sum(api_calls), 0)::bigint AS api_calls, coalesce(sum(agent_minutes), 0)::bigint AS agent_minutes
		      FROM usage_hourly_total WHERE workspace_id = $1 AND hour >= $2 AND hour < $3) AS mo`

// readSupportUsage reads what support's look at ws shows over days days, in one statement bound to
// ws and read-only (readOnlyPage): one round trip, from read (a replica, or the primary).
func readSupportUsage(ctx context.Context, read *bun.DB, ws *Workspace, now time.Time, days int) (*SupportWorkspaceView, error) {
	v := &SupportWorkspaceView{Workspace: ws, Usage: newSnapshot(ws.Tier, now), Series: newHourlySeries(now, days)}
	v.Month.Month = v.Usage.PeriodStart
	err := readOnlyPage(ctx, read, ws.ID, func(ctx context.Context, tn *Tenant) error {
		var pending int64
		var alerts, hours []byte
		// Planned at each call, for the running tasks' count (queryRowPlanned): a page seldom shown
		// plans its statement rather than send that count as a statement of its own.
		err := tn.queryRowPlanned(ctx, supportUsageSQL, append(v.Usage.nowArgs(tn.ws, now), v.Series.From, v.Series.Until)...).
			Scan(append(v.Usage.nowDest(&pending), &alerts, &v.Usage.RunningTasks, &v.Members, &v.Month.APICalls, &v.Month.AgentMinutes, &hours)...)
		if err != nil {
			return err
		}
		if err := v.Usage.finish(pending, alerts, now); err != nil {
			return err
		}
		var rows [][3]int64
		if err := json.Unmarshal(hours, &rows); err != nil {
			return err
		}
		hs := make([]UsageHour, len(rows))
		for i, r := range rows {
			hs[i] = UsageHour{Hour: time.Unix(r[0], 0).UTC(), APICalls: r[1], AgentMinutes: r[2]}
		}
		v.Series.fillHours(hs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("support usage of %s: %w", ws.Slug, err)
	}
	return v, nil
}

// SupportSearch is the support console's table (SupportWorkspaces). A search is recorded in the
// platform log with its number of results: who looked for whom, since a search by a member's email
// says where that person works. The table is read from read (a replica, or db itself); the record
// is written to db.
func SupportSearch(ctx context.Context, db bun.IDB, read *bun.DB, viewer *User, q SupportQuery, now time.Time) (*SupportListing, error) {
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
func SupportExport(ctx context.Context, db bun.IDB, read *bun.DB, viewer *User, q SupportQuery, now time.Time) (*SupportListing, error) {
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

// SupportLook is support's look at the usage of the workspace slug names, over days days. In one
// statement on db (atrium_support_look) it finds the workspace and the viewer's grant in force at
// now and, under a grant, writes the look into the workspace's audit log with the grant's reason,
// ticket and id (support.view); only once that is committed is the usage read, from the pool read
// chooses then (a replica, or db itself), in one read-only statement bound to the workspace
// (readSupportUsage). Without a grant in force nothing is recorded or read: the access comes back
// with Grant nil and no view (a reason is needed first). Only support staff may (anyone else, or
// no such workspace: ErrNotFound).
func SupportLook(ctx context.Context, db bun.IDB, read func() *bun.DB, viewer *User, slug string, now time.Time, days int) (*SupportAccess, *SupportWorkspaceView, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, nil, Errorf(ErrNotFound, "not found")
	}
	ip, _ := ctx.Value(ipKey{}).(string)
	acc, err := supportAccess(ctx, db.NewRaw("SELECT * FROM atrium_support_look(?, ?, ?, ?, ?, ?, ?)",
		slug, viewer.ID, now, NewID(), "usage", days, ip), viewer)
	if err != nil || acc.Grant == nil {
		return acc, nil, err
	}
	v, err := readSupportUsage(ctx, read(), acc.Workspace, now, days)
	if err != nil {
		return nil, nil, err
	}
	return acc, v, nil
}
