package views

import (
	"net/url"
	"strconv"
	"time"

	"atrium/handlers/paths"
	"atrium/views/components"
	"atrium/views/layouts"
)

// SupportPage is /support/workspaces: every workspace with its use, for support staff.
type SupportPage struct {
	layouts.Frame
	Q    string
	Sort string
	Desc bool
	Rows []SupportRow
	// Page and Pages number the table's pages from 1; Total counts the matching workspaces.
	Page, Pages, Total int
	PerPage            int
	Columns            []SortColumn
	// MonthLabel and HourLabel name the periods the use columns count.
	MonthLabel, HourLabel string
}

// query is the search and order as query parameters; page 1 is left out.
func (p SupportPage) query(sort string, desc bool, page int) url.Values {
	v := url.Values{}
	if p.Q != "" {
		v.Set("q", p.Q)
	}
	if s := sortParam(sort, desc); s != "" && s != "name" {
		v.Set("sort", s)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return v
}

// SortParam is the table's order as the address carries it, as the members list's: the column's
// key, with a leading "-" for descending ("-agent_minutes").
func (p SupportPage) SortParam() string { return sortParam(p.Sort, p.Desc) }

func sortParam(key string, desc bool) string {
	if desc {
		return "-" + key
	}
	return key
}

// Pager is the table's pagination, keeping the search and the order.
func (p SupportPage) Pager() components.Pager {
	return components.Pager{Page: p.Page, Pages: p.Pages, Total: p.Total, PerPage: p.PerPage, Base: paths.SupportWorkspaces.URL(),
		Query: p.query(p.Sort, p.Desc, 1), Label: "Workspace pages", Noun: "workspaces", TestID: "support"}
}

// CSVURL downloads every matching workspace in the same order.
func (p SupportPage) CSVURL() string {
	return pathWithQuery(paths.SupportWorkspacesCSV.URL(), p.query(p.Sort, p.Desc, 1))
}

// SortURL orders the table by key: ascending first, and the other way on a second click.
func (p SupportPage) SortURL(key string, firstDesc bool) string {
	desc := firstDesc
	if p.Sort == key {
		desc = !p.Desc
	}
	return pathWithQuery(paths.SupportWorkspaces.URL(), p.query(key, desc, 1))
}

// SortColumn is a sortable header of the table.
type SortColumn struct {
	Key, Label string
	// FirstDesc sorts the column descending on the first click (use: the biggest first).
	FirstDesc bool
	Numeric   bool
}

// AriaSort says how the table is sorted by column key, for assistive technology.
func (p SupportPage) AriaSort(key string) string {
	switch {
	case p.Sort != key:
		return "none"
	case p.Desc:
		return "descending"
	}
	return "ascending"
}

// SupportRow is one workspace in the support table.
type SupportRow struct {
	Name, Slug, Tier string
	URL              string
	Members          string
	Pending          string
	MembersPct       string
	AgentMinutes     string
	AgentMinutesPct  string
	APICalls         string
	APICallsPct      string
	// Levels are "", "warn" (80 % or more) or "over" (100 % or more), for the percentages' colour.
	MembersLevel, AgentMinutesLevel, APICallsLevel string
}

// SupportDeletionsPage is /support/deletions: the workspaces scheduled for deletion.
type SupportDeletionsPage struct {
	layouts.Frame
	Rows    []SupportDeletionRow
	Pager   components.Pager
	BackURL string
}

// SupportDeletionRow is one scheduled deletion.
type SupportDeletionRow struct {
	Name, Slug, Tier      string
	DeletedAt, EraseAfter time.Time
	// By is the email of the owner who deleted it ("" when that account is gone).
	By  string
	URL string
}

// SupportReasonPage asks support staff why they open a workspace, before anything of it is shown.
type SupportReasonPage struct {
	layouts.Frame
	Name, Slug      string
	Action, BackURL string
	// Reason and Ticket are what a refused try typed; Errors says why, by field.
	Reason, Ticket string
	Errors         map[string]string
	// Minutes is how long the reason opens the workspace.
	Minutes              int
	ReasonMax, TicketMax int
}
