package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/models/mail"
	"atrium/views"
	"atrium/views/components"
	"atrium/views/layouts"
)

// supportColumns are the support table's sortable columns; use columns sort biggest first.
var supportColumns = []views.SortColumn{
	{Key: "name", Label: "Workspace"},
	{Key: "slug", Label: "Address"},
	{Key: "tier", Label: "Tier", FirstDesc: true},
	{Key: "members", Label: "Members", FirstDesc: true, Numeric: true},
	{Key: "members_pct", Label: "% of seats", FirstDesc: true, Numeric: true},
	{Key: "agent_minutes", Label: "Agent-minutes this month", FirstDesc: true, Numeric: true},
	{Key: "agent_minutes_pct", Label: "% of limit", FirstDesc: true, Numeric: true},
	{Key: "api_calls", Label: "API calls this hour", FirstDesc: true, Numeric: true},
	{Key: "api_calls_pct", Label: "% of limit", FirstDesc: true, Numeric: true},
}

// supportQuery reads the table's search, order and page from the query string.
func supportQuery(c echo.Context) models.SupportQuery {
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	// The order as the members list carries it: sort=-agent_minutes is the most first.
	sort, desc := models.ParseSort(c.QueryParam("sort"), models.SupportSortKeys, "name")
	page, _ := strconv.Atoi(c.QueryParam("page"))
	return models.SupportQuery{Q: q, Sort: sort, Desc: desc, Page: max(page, 1), PerPage: models.SupportPageSize}
}

// pctOf formats used as a share of limit, with its warning level; "–" when unlimited.
func pctOf(l models.Limit, used int64) (text, level string) {
	if l.IsUnlimited() {
		return "–", ""
	}
	p := l.Percent(used)
	switch {
	case p >= 100:
		level = "over"
	case p >= 80:
		level = "warn"
	}
	return strconv.FormatFloat(math.Floor(p), 'f', 0, 64) + " %", level
}

// supportIndex is the support console: every workspace, searchable and sortable, read-only.
func (s *Server) supportIndex(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	q := supportQuery(c)
	read, from := s.heavyRead(ctx)
	l, err := models.SupportSearch(ctx, s.DB, read, u, q, s.Now())
	if err != nil {
		return err
	}
	f := s.frame(c, "Support console", "")
	f.ReadFrom = from
	vm := views.SupportPage{Frame: f, PerPage: models.SupportPageSize, Q: q.Q, Sort: q.Sort, Desc: q.Desc, Page: l.Page, Pages: l.Pages,
		Total: l.Total, Columns: supportColumns, MonthLabel: l.Month.Format("January 2006"), HourLabel: l.Hour.Format("15:04 UTC")}
	for i := range l.Rows {
		r := &l.Rows[i]
		lim := r.Tier.Limits()
		row := views.SupportRow{Name: r.Name, Slug: r.Slug, Tier: r.Tier.Label(), URL: paths.SupportWorkspace.URL(r.Slug),
			Members: models.FormatCount(r.Members), Pending: models.FormatCount(r.Pending),
			AgentMinutes: models.FormatCount(r.AgentMinutes), APICalls: models.FormatCount(r.APICalls)}
		row.MembersPct, row.MembersLevel = pctOf(lim.Members, r.Seats())
		row.AgentMinutesPct, row.AgentMinutesLevel = pctOf(lim.AgentMinutesPerMonth, r.AgentMinutes)
		row.APICallsPct, row.APICallsLevel = pctOf(lim.APICallsPerHour, r.APICalls)
		vm.Rows = append(vm.Rows, row)
	}
	return s.render(c, http.StatusOK, views.SupportView(vm), views.SupportTable(vm))
}

// supportCSV downloads the whole table (every matching workspace) in the same order.
func (s *Server) supportCSV(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	q := supportQuery(c)
	read, from := s.heavyRead(ctx)
	l, err := models.SupportExport(ctx, s.DB, read, u, q, s.Now())
	if err != nil {
		return err
	}
	markReadFrom(c, from)
	rows := make([][]string, 0, len(l.Rows))
	for i := range l.Rows {
		rows = append(rows, l.Rows[i].CSVRecord())
	}
	return writeCSV(c, fmt.Sprintf("atrium-workspaces-%s.csv", s.Now().UTC().Format("20060102-1504")), models.SupportCSVHeader, rows)
}

// supportWorkspace is support's read-only usage page of one workspace. It opens only under a
// grant in force (a reason and a ticket given on this page, for the configured time-box); without
// one it asks for them. The look is written to the workspace's audit log, with the grant's reason
// and ticket, before anything is read or shown (models.SupportLook: the lookup of the grant and
// the record in one statement, then the usage in one read-only statement); it does not poll, so
// one look is one event.
func (s *Server) supportWorkspace(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	now := s.Now()
	days := models.ParseUsageRange(c.QueryParam("range"))
	var from *layouts.ReadFrom
	read := func() *bun.DB { // where the usage is read, chosen only once the look is recorded
		var db *bun.DB
		db, from = s.heavyRead(ctx)
		return db
	}
	acc, v, err := models.SupportLook(ctx, s.DB, read, u, c.Param("slug"), now, days)
	if err != nil {
		return err
	}
	if acc.Grant == nil {
		return s.supportReasonForm(c, acc)
	}
	d := &usageData{name: v.Workspace.Name, slug: v.Workspace.Slug, tier: v.Workspace.Tier, now: now, snap: v.Usage, month: v.Month, series: v.Series}
	f := s.frame(c, "Usage of "+v.Workspace.Name, "")
	f.Support = true
	f.ReadFrom = from
	vm := usagePageVM(f, d, days, paths.SupportWorkspace.URL(v.Workspace.Slug))
	pending := "no pending invitations"
	if n := int(v.Usage.Members - v.Members); n > 0 {
		pending = plural(n, "pending invitation")
	}
	vm.Support = &views.SupportFacts{Members: plural(int(v.Members), "member"), Pending: pending,
		Created: v.Workspace.CreatedAt, BackURL: paths.SupportWorkspaces.URL(),
		Reason: acc.Grant.Reason, Ticket: acc.Grant.Ticket, Until: acc.Grant.ExpiresAt, Deleted: v.Workspace.DeletedAt != nil}
	return s.render(c, http.StatusOK, views.UsageView(vm), nil)
}

// supportReasonForm asks support staff why they open a workspace (reason and ticket), with what a
// refused try typed and why it was refused.
func (s *Server) supportReasonForm(c echo.Context, acc *models.SupportAccess) error {
	slug := c.Param("slug")
	vm := views.SupportReasonPage{Frame: s.frame(c, "Why open "+acc.Name+"?", ""), Name: acc.Name, Slug: slug,
		Action: paths.SupportWorkspace.URL(slug), BackURL: paths.SupportWorkspaces.URL(),
		Minutes: int(s.supportWindow() / time.Minute), ReasonMax: models.SupportReasonMax, TicketMax: models.SupportTicketMax}
	var back formBack
	if s.takeForm(c, "support-reason", &back) {
		vm.Reason, vm.Ticket, vm.Errors = back.Values["reason"], back.Values["ticket"], back.Errors
	}
	return s.render(c, http.StatusOK, views.SupportReasonView(vm), nil)
}

// supportWindow is how long one reason opens a workspace.
func (s *Server) supportWindow() time.Duration {
	if s.Cfg.SupportAccessWindow > 0 {
		return s.Cfg.SupportAccessWindow
	}
	return models.SupportAccessWindow
}

// supportAccessGrant records support's reason and ticket for opening a workspace (fields reason
// and ticket) and opens it for the time-box; the owners are mailed when they asked to be. A
// refused form comes back to the page that asks, with what was typed.
func (s *Server) supportAccessGrant(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	slug := c.Param("slug")
	acc, err := models.LookupSupportAccess(ctx, s.DB, u, slug, s.Now())
	if err != nil {
		return err
	}
	reason, ticket := c.FormValue("reason"), c.FormValue("ticket")
	g, err := models.GrantSupportAccess(ctx, s.DB, u, acc.WorkspaceID, reason, ticket, s.Now(), s.supportWindow(), s.supportAccessMail())
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseForm(c, "support-reason", paths.SupportWorkspace.URL(slug),
			formBack{Values: map[string]string{"reason": reason, "ticket": ticket}, Errors: ve.Fields})
	}
	if err != nil {
		return err
	}
	s.flash(c, fmt.Sprintf("%s is open to you until %s, for ticket %s. Every look is in its audit log with your reason.",
		acc.Name, g.ExpiresAt.UTC().Format("15:04 UTC"), g.Ticket))
	return s.redirect(c, paths.SupportWorkspace.URL(slug))
}

// supportAccessMail composes the owners' mail about a support access, when mail reaches anyone.
func (s *Server) supportAccessMail() models.SupportAccessMail {
	if !s.mailReady() {
		return nil
	}
	return func(to, workspace string, viewer *models.User, g *models.SupportGrant) *models.Mail {
		m := mail.SupportAccess(to, workspace, viewer.DisplayName(), g.Reason, g.Ticket, g.GrantedAt, g.ExpiresAt).Queued()
		return &m
	}
}

// supportDeletions lists the workspaces scheduled for deletion: when, by whom, and when each is
// erased, 50 to a page. Reading it records nothing inside any workspace.
func (s *Server) supportDeletions(c echo.Context) error {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	rows, total, err := models.SupportDeletions(c.Request().Context(), s.DB, currentUser(c), page)
	if err != nil {
		return err
	}
	vm := views.SupportDeletionsPage{Frame: s.frame(c, "Scheduled deletions", ""), BackURL: paths.SupportWorkspaces.URL()}
	vm.Pager = components.Pager{Page: page, Pages: max(1, (total+models.SupportPageSize-1)/models.SupportPageSize), Total: total,
		PerPage: models.SupportPageSize, Base: paths.SupportDeletions.URL(), Label: "Scheduled deletion pages", Noun: "workspaces", TestID: "deletions"}
	for _, r := range rows {
		vm.Rows = append(vm.Rows, views.SupportDeletionRow{Name: r.Name, Slug: r.Slug, Tier: r.Tier.Label(), DeletedAt: r.DeletedAt,
			EraseAfter: r.EraseAfter(), By: r.ByEmail, URL: paths.SupportWorkspace.URL(r.Slug)})
	}
	return s.render(c, http.StatusOK, views.SupportDeletionsView(vm), nil)
}
