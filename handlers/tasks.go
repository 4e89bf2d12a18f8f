package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// formatDuration says how long something took: 45s, 3m 12s, 1h 05m, 2d 3h.
func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// taskRow formats one task for the lists and the task page.
func taskRow(slug string, t *models.ListedTask, now time.Time) views.TaskRow {
	id := t.ID.String()
	r := views.TaskRow{ID: id, Short: id[len(id)-8:], URL: paths.Task.URL(slug, id), CancelURL: paths.TaskCancel.URL(slug, id),
		Agent: t.AgentName, AgentURL: paths.Agent.URL(slug, t.AgentID.String()), Status: string(t.Status),
		StatusLabel: t.Status.Label(), Running: t.Status == models.TaskRunning,
		Started: t.StartedAt, Duration: "—", Minutes: models.FormatCount(t.AgentMinutes),
		Key: t.KeyName, KeyPrefix: t.KeyPrefix, Input: t.Input}
	if t.StartedAt != nil {
		r.Duration = formatDuration(t.Duration(now))
	}
	if r.Running && t.StartedAt != nil {
		// What a completion now would count: every begun minute.
		r.Minutes = models.FormatCount(int64(math.Ceil(t.Duration(now).Minutes()))) + " so far"
	}
	return r
}

// taskList builds a task list's view from a page of tasks.
func (s *Server) taskList(c echo.Context, base string, query url.Values, p *models.TasksPageData, now time.Time) views.TaskList {
	m := membership(c)
	self := base
	if len(query) > 0 {
		self += "?" + query.Encode()
	}
	l := views.TaskList{Slug: m.Slug, Self: self, IsFirst: query.Get("cursor") == "", Running: int(p.Running),
		CanCancel: m.Role.Can(models.ActCancelTasks) && !currentUser(c).IsSupport(), CSRF: s.csrfToken(c.Request().Context())}
	first := url.Values{}
	for k, v := range query {
		if k != "cursor" {
			first[k] = v
		}
	}
	l.First = base
	if len(first) > 0 {
		l.First += "?" + first.Encode()
	}
	if next := p.Next.String(); next != "" {
		first.Set("cursor", next)
		l.Next = base + "?" + first.Encode()
	}
	for i := range p.Tasks {
		r := taskRow(m.Slug, &p.Tasks[i], now)
		l.Rows = append(l.Rows, r)
		l.Live = l.Live || r.Running
	}
	// The first page of a list that shows running tasks also refreshes while anything runs, so a
	// task that starts shows up.
	st := query.Get("status")
	l.Live = l.Live || (l.IsFirst && p.Running > 0 && (st == "" || st == string(models.TaskRunning)))
	return l
}

// taskQuery reads the task list's filters and cursor from the query string.
func taskQuery(c echo.Context) (models.TasksQuery, url.Values, error) {
	var q models.TasksQuery
	v := url.Values{}
	if st := c.QueryParam("status"); st != "" {
		status, ok := models.ParseTaskStatus(st)
		if !ok {
			return q, v, echo.NewHTTPError(http.StatusBadRequest, "Choose a status from the list: running, queued, succeeded, failed or cancelled.")
		}
		q.Status = status
		v.Set("status", st)
	}
	if a := c.QueryParam("agent"); a != "" {
		id, err := uuid.Parse(a)
		if err != nil {
			return q, v, echo.NewHTTPError(http.StatusBadRequest, "Choose an agent from the list.")
		}
		q.AgentID = id
		v.Set("agent", id.String())
	}
	cur, err := models.ParseTaskCursor(c.QueryParam("cursor"))
	if err != nil {
		return q, v, echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	q.Cursor = cur
	if s := cur.String(); s != "" {
		v.Set("cursor", s)
	}
	return q, v, nil
}

// tasksIndex lists the workspace's tasks, running ones first; htmx asks for the list alone while
// something runs.
func (s *Server) tasksIndex(c echo.Context) error {
	m := membership(c)
	q, query, err := taskQuery(c)
	if err != nil {
		return err
	}
	q.WithAgents = !isHTMX(c)
	now := s.Now()
	var p *models.TasksPageData
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ReadTasksPage(ctx, tn, q, now)
		return err
	})
	if err != nil {
		return err
	}
	vm := views.TasksPage{Frame: s.frame(c, "Tasks", "tasks"), Slug: m.Slug, Status: string(q.Status)}
	if q.AgentID != uuid.Nil {
		vm.AgentID = q.AgentID.String()
	}
	for _, a := range p.Agents {
		vm.Agents = append(vm.Agents, views.Choice{Value: a.ID.String(), Label: a.Name})
	}
	vm.List = s.taskList(c, paths.Tasks.URL(m.Slug), query, p, now)
	vm.List.Filtered = q.Status != "" || q.AgentID != uuid.Nil
	return s.render(c, http.StatusOK, views.TasksView(vm), views.TaskListView(vm.List))
}

// agentsIndex lists the workspace's agents by name, with a search.
func (s *Server) agentsIndex(c echo.Context) error {
	m := membership(c)
	query := c.QueryParam("q")
	page, _ := strconv.Atoi(c.QueryParam("page"))
	now := s.Now()
	var p *models.AgentsPageData
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ReadAgentsPage(ctx, tn, query, page, now)
		return err
	})
	if err != nil {
		return err
	}
	vm := views.AgentsPage{Frame: s.frame(c, "Agents", "agents"), Slug: m.Slug, Query: query, Page: p.Page, Pages: p.Pages, Total: p.Total,
		PerPage: models.AgentPageSize}
	for i := range p.Agents {
		vm.Rows = append(vm.Rows, agentRow(m.Slug, &p.Agents[i]))
	}
	return s.render(c, http.StatusOK, views.AgentsView(vm), nil)
}

// agentRow formats one agent.
func agentRow(slug string, a *models.AgentStats) views.AgentRow {
	id := a.ID.String()
	return views.AgentRow{ID: id, Name: a.Name, URL: paths.Agent.URL(slug, id), Status: a.Status, Running: int(a.Running),
		Minutes: models.FormatCount(a.MinutesMonth), LastActive: a.LastActive, Created: a.CreatedAt,
		TasksURL:        paths.Tasks.URL(slug) + "?agent=" + id,
		RunningTasksURL: paths.Tasks.URL(slug) + "?" + url.Values{"status": {"running"}, "agent": {id}}.Encode()}
}

// agentShow is an agent with its tasks, running first; the list refreshes itself while one runs.
func (s *Server) agentShow(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "agent")
	if err != nil {
		return err
	}
	cur, err := models.ParseTaskCursor(c.QueryParam("cursor"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	now := s.Now()
	var p *models.TasksPageData
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ReadTasksPage(ctx, tn, models.TasksQuery{AgentID: id, Cursor: cur, WithAgent: true}, now)
		return err
	})
	if err != nil {
		return err
	}
	query := url.Values{}
	if s := cur.String(); s != "" {
		query.Set("cursor", s)
	}
	vm := views.AgentPage{Frame: s.frame(c, p.Agent.Name, "agents"), Slug: m.Slug, Agent: agentRow(m.Slug, p.Agent),
		List: s.taskList(c, paths.Agent.URL(m.Slug, id.String()), query, p, now)}
	vm.List.HideAgent = true
	return s.render(c, http.StatusOK, views.AgentView(vm), views.TaskListView(vm.List))
}

// taskShow is a task with its conversation; it refreshes itself while the task runs.
func (s *Server) taskShow(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	after := uuid.Nil
	if a := c.QueryParam("after"); a != "" {
		if after, err = uuid.Parse(a); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "That page of messages does not exist; start from the first.")
		}
	}
	now := s.Now()
	var p *models.TaskPageData
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ReadTaskPage(ctx, tn, id, after)
		return err
	})
	if err != nil {
		return err
	}
	base := paths.Task.URL(m.Slug, id.String())
	vm := views.TaskPage{Frame: s.frame(c, "Task", "tasks"), Slug: m.Slug, Task: taskRow(m.Slug, &p.Task, now), Self: base,
		CanCancel: m.Role.Can(models.ActCancelTasks) && !currentUser(c).IsSupport()}
	if after != uuid.Nil {
		vm.Self, vm.FromStart = base+"?after="+after.String(), base
	}
	if p.NextMessages != uuid.Nil {
		vm.MoreMessages = base + "?after=" + p.NextMessages.String()
	}
	vm.Finished = p.Task.FinishedAt
	for _, msg := range p.Messages {
		vm.Messages = append(vm.Messages, views.MessageRow{Role: msg.Role, Body: msg.Body, At: msg.CreatedAt})
	}
	return s.render(c, http.StatusOK, views.TaskView(vm), views.TaskPanel(vm))
}

// taskCancelConfirm asks before cancelling a running task, on a page of its own (the page's
// dialog asks with JavaScript); its form goes back to the page in next once done.
func (s *Server) taskCancelConfirm(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	back := safeNext(c.QueryParam("next"), paths.Tasks.URL(m.Slug))
	short := id.String()[28:]
	var p *models.TaskPageData
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ReadTaskPage(ctx, tn, id, uuid.Nil)
		return err
	})
	if err != nil {
		return err
	}
	if p.Task.Status != models.TaskRunning {
		s.flashError(c, "Task "+short+" is "+string(p.Task.Status)+" already; only a running task can be cancelled.")
		return s.redirect(c, back)
	}
	vm := views.ConfirmPage{Frame: s.frame(c, "Cancel task", "tasks"), Heading: "Cancel task " + short + " of " + p.Task.AgentName + "?",
		Message: "The task stops as cancelled and its concurrency slot is free at once. The minutes it ran count against this month. This cannot be undone.",
		Action:  c.Request().URL.Path + "?next=" + url.QueryEscape(back), Button: "Cancel task", Cancel: back}
	return s.render(c, http.StatusOK, views.ConfirmView(vm), nil)
}

// taskCancel ends a running task as cancelled, after a confirmation (the page's dialog, or the
// page of taskCancelConfirm without JavaScript, where a cancel sent without one is redirected),
// and goes back to the page it came from.
func (s *Server) taskCancel(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	back := safeNext(c.FormValue("next"), paths.Tasks.URL(m.Slug))
	short := id.String()[28:]
	if !confirmed(c) {
		return s.redirect(c, c.Request().URL.Path+"?next="+url.QueryEscape(back))
	}
	var t *models.Task
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		t, err = models.CancelTask(ctx, tn, models.Canceller{UserID: currentUser(c).ID, Role: m.Role}, id, s.Now())
		return err
	})
	if errors.Is(err, models.ErrConflict) {
		_, _, msg := classify(err)
		s.flashError(c, msg)
		return s.redirect(c, back)
	}
	if err != nil {
		return err
	}
	ran := ""
	if t.StartedAt != nil && t.FinishedAt != nil {
		ran = " It ran " + formatDuration(t.FinishedAt.Sub(*t.StartedAt)) + " and counts " + models.FormatCount(t.AgentMinutes) + " agent-minutes."
	}
	s.flash(c, "Task "+short+" is cancelled; its slot is free."+ran)
	return s.redirect(c, back)
}
