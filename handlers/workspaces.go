package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
	"atrium/views/layouts"
)

func (s *Server) workspacesView(c echo.Context, status int, form views.NewWorkspaceForm) error {
	ctx := c.Request().Context()
	list, err := models.UserWorkspaces(ctx, s.DB, currentUser(c).ID)
	if err != nil {
		return err
	}
	deleted, err := models.DeletedWorkspaces(ctx, s.DB, currentUser(c).ID)
	if err != nil {
		return err
	}
	vm := views.WorkspacesPage{Frame: s.frame(c, "Workspaces", ""), Form: form}
	for _, w := range list {
		vm.Workspaces = append(vm.Workspaces, views.WorkspaceRow{Name: w.Name, Slug: w.Slug, Role: w.Role.Label(), Tier: w.Tier.Label()})
	}
	now := s.Now()
	for _, d := range deleted {
		vm.Deleted = append(vm.Deleted, views.DeletedWorkspaceRow{Name: d.Name, Slug: d.Slug, DeletedAt: d.DeletedAt,
			RestoreBy: d.RestoreBy(), Restorable: d.Restorable(now), RestoreURL: paths.WorkspaceRestore.URL(d.Slug)})
	}
	return s.render(c, status, views.WorkspacesView(vm), views.NewWorkspaceFormView(vm.CSRF, form))
}

// workspacesIndex lists the user's workspaces with the create form (a refused one back in it once).
func (s *Server) workspacesIndex(c echo.Context) error {
	var form views.NewWorkspaceForm
	var back formBack
	if !isHTMX(c) && s.takeForm(c, "workspace-new", &back) {
		form = views.NewWorkspaceForm{Name: back.Values["name"], Slug: back.Values["slug"], Errors: back.Errors}
	}
	return s.workspacesView(c, http.StatusOK, form)
}

// workspaceCreate makes a workspace with the user as owner and opens it.
func (s *Server) workspaceCreate(c echo.Context) error {
	form := views.NewWorkspaceForm{Name: c.FormValue("name"), Slug: c.FormValue("slug")}
	ws, err := models.CreateWorkspace(c.Request().Context(), s.DB, currentUser(c), form.Name, form.Slug, s.Now())
	var ve *models.ValidationError
	if errors.As(err, &ve) && !isHTMX(c) {
		return s.refuseForm(c, "workspace-new", paths.Workspaces.URL(),
			formBack{Values: map[string]string{"name": form.Name, "slug": form.Slug}, Errors: ve.Fields})
	}
	if errors.As(err, &ve) {
		form.Errors = ve.Fields
		return s.workspacesView(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	s.flash(c, "Workspace "+ws.Name+" is ready. You are its owner.")
	return s.redirect(c, paths.Workspace.URL(ws.Slug))
}

// workspaceRestore takes a workspace back from its deletion: its owners may, within 30 days;
// for anyone else it does not exist (404).
func (s *Server) workspaceRestore(c echo.Context) error {
	ws, err := models.RestoreWorkspace(c.Request().Context(), s.DB, currentUser(c), c.Param("slug"), s.Now())
	if errors.Is(err, models.ErrConflict) && !isHTMX(c) {
		s.flashError(c, err.Error())
		return s.redirect(c, paths.Workspaces.URL())
	}
	if err != nil {
		return err
	}
	s.flash(c, "The workspace "+ws.Name+" is back, with its members, API keys and everything in it.")
	return s.redirect(c, paths.Workspace.URL(ws.Slug))
}

// workspaceSlugCheck answers whether a slug is free, for the live check in the form.
func (s *Server) workspaceSlugCheck(c echo.Context) error {
	slug := strings.ToLower(strings.TrimSpace(c.QueryParam("slug")))
	out := views.SlugCheck{Slug: slug}
	if msg := models.CheckSlug(slug); msg != "" {
		out.Message = msg
	} else {
		taken, err := models.SlugTaken(c.Request().Context(), s.DB, slug)
		if err != nil {
			return err
		}
		out.Available = !taken
		if taken {
			out.Message = paths.Workspace.URL(slug) + " is taken."
		}
	}
	return s.render(c, http.StatusOK, views.SlugCheckView(out), nil)
}

// workspaceSwitcher filters the switcher's list by name or slug.
func (s *Server) workspaceSwitcher(c echo.Context) error {
	list, err := models.UserWorkspaces(c.Request().Context(), s.DB, currentUser(c).ID)
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(c.QueryParam("q")))
	current := c.QueryParam("current")
	var links []layouts.WorkspaceLink
	for _, w := range list {
		if q == "" || strings.Contains(strings.ToLower(w.Name), q) || strings.Contains(w.Slug, q) {
			links = append(links, layouts.WorkspaceLink{Name: w.Name, Slug: w.Slug, Role: w.Role.Label(), Current: w.Slug == current})
		}
	}
	return s.render(c, http.StatusOK, layouts.SwitcherList(links), nil)
}

// meters turns a usage snapshot into the four meters of the overview and usage pages.
func meters(u *models.Snapshot) []views.MeterVM {
	type m struct {
		key, label string
		used       int64
		limit      models.Limit
		resets     time.Time
	}
	ms := []m{
		{"agent-minutes", "Agent-minutes this month", u.AgentMinutesMonth, u.Limits.AgentMinutesPerMonth, u.PeriodEnd},
		{"api-calls", "API calls this hour", u.APICallsHour, u.Limits.APICallsPerHour, u.HourResets()},
		{"concurrent-tasks", "Concurrent tasks", u.RunningTasks, u.Limits.ConcurrentTasks, time.Time{}},
		{"members", "Members (with pending invitations)", u.Members, u.Limits.Members, time.Time{}},
	}
	out := make([]views.MeterVM, 0, len(ms))
	for _, x := range ms {
		vm := views.MeterVM{Key: x.key, Label: x.label, Used: models.FormatCount(x.used), Limit: x.limit.String(), Percent: x.limit.Percent(x.used)}
		vm.Level = limitLevel(vm.Percent)
		if x.key == "members" && u.MemberCount == 1 && u.Members == 1 { // the owner alone
			vm.Level = ""
		}
		vm.Resets = x.resets
		out = append(out, vm)
	}
	return out
}

// workspaceOverview is the workspace's front page: usage at a glance.
func (s *Server) workspaceOverview(c echo.Context) error {
	m := membership(c)
	vm := views.OverviewPage{Frame: s.frame(c, "Overview", "overview"), Tier: m.Tier.Label()}
	err := s.readPage(c, s.DB, func(ctx context.Context, tn *models.Tenant) error {
		u, err := models.CurrentUsage(ctx, tn, m.Tier, s.Now())
		if err != nil {
			return err
		}
		vm.Meters = meters(u)
		vm.Members, vm.Agents, vm.Running = int(u.MemberCount), int(u.Agents), int(u.RunningTasks)
		return nil
	})
	if err != nil {
		return err
	}
	vm.Workspace.Notice = limitNotice(vm.Meters, m)
	return s.render(c, http.StatusOK, views.OverviewView(vm), nil)
}
