package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// settingsExtras is what a settings page shows beyond the workspace: a form being corrected or a
// downgrade just refused.
type settingsExtras struct {
	name       *string
	nameError  string
	refused    *models.TierChangeRefused
	twoFAError string
}

// settingsPage builds the settings page's view model: the workspace (as the request's frame read
// it, with the membership), and its current use against every tier, so each smaller tier says up
// front whether the use fits it.
func (s *Server) settingsPage(c echo.Context, x settingsExtras) (views.SettingsPage, error) {
	m := membership(c)
	vm := views.SettingsPage{Frame: s.frame(c, "Settings", "settings"), Slug: m.Slug,
		NameError: x.nameError, MembersURL: paths.Members.URL(m.Slug), TwoFactorError: x.twoFAError,
		OwnTwoFactor: hasSecondFactor(c), TwoFactorURL: paths.TwoFactor.URL()}
	vm.Name, vm.Tier, vm.RequireTwoFactor = m.Name, string(m.Tier), m.RequireTwoFactor
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		u, err := models.CurrentUsage(ctx, tn, m.Tier, s.Now())
		if err != nil {
			return err
		}
		for _, t := range models.Tiers {
			l := t.Limits()
			opt := views.TierOption{Value: string(t), Label: t.Label(), Current: t == m.Tier, Upgrade: t.Rank() > m.Tier.Rank(),
				AgentMinutes: l.AgentMinutesPerMonth.String(), APICalls: l.APICallsPerHour.String(),
				Tasks: l.ConcurrentTasks.String(), Members: l.Members.String()}
			if t.Rank() < m.Tier.Rank() {
				opt.Blockers = models.DowngradeBlockers(u, t)
			}
			vm.Tiers = append(vm.Tiers, opt)
		}
		return nil
	})
	if x.name != nil {
		vm.Name = *x.name
	}
	if x.refused != nil {
		vm.Refused = &views.TierRefusal{To: x.refused.To.Label(), Reduce: x.refused.Reduce}
		if x.refused.RunningTasks {
			vm.Refused.RunningURL = views.RunningTasksURL(vm.Slug)
		}
	}
	return vm, err
}

// settingsIndex shows the settings page (owners only: every change on it is theirs to make).
func (s *Server) settingsIndex(c echo.Context) error {
	vm, err := s.settingsPage(c, settingsExtras{})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.SettingsView(vm), nil)
}

// settingsNameUpdate renames the workspace; a refused name re-renders the form with 422.
func (s *Server) settingsNameUpdate(c echo.Context) error {
	m := membership(c)
	name := c.FormValue("name")
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.RenameWorkspace(ctx, tn, actor(c), name)
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		vm, err := s.settingsPage(c, settingsExtras{name: &name, nameError: ve.Fields["name"]})
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, views.SettingsView(vm), views.SettingsNameForm(vm))
	}
	if err != nil {
		return err
	}
	s.flash(c, "The workspace is now called "+ws.Name+".")
	return s.redirect(c, paths.Settings.URL(m.Slug))
}

// settingsTierUpdate changes the tier. A downgrade that current use exceeds is answered 409 with
// what to reduce first (the page for a browser; htmx shows the message in the flash area).
func (s *Server) settingsTierUpdate(c echo.Context) error {
	m := membership(c)
	to := models.Tier(c.FormValue("tier"))
	var from models.Tier
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		from, err = models.ChangeTier(ctx, tn, actor(c), to, s.Now())
		return err
	})
	var refused *models.TierChangeRefused
	var ve *models.ValidationError
	switch {
	case errors.As(err, &refused) && !isHTMX(c):
		vm, err := s.settingsPage(c, settingsExtras{refused: refused})
		if err != nil {
			return err
		}
		return s.render(c, http.StatusConflict, views.SettingsView(vm), nil)
	case errors.As(err, &ve) && !isHTMX(c):
		s.flashError(c, ve.Fields["tier"])
		return s.redirect(c, paths.Settings.URL(m.Slug))
	case refused != nil:
		return models.Errorf(models.ErrLimitReached, "%s", refused.Error())
	case err != nil:
		return err
	}
	to, _ = models.ParseTier(string(to))
	if from == to {
		s.flash(c, "The workspace is on the "+to.Label()+" tier already.")
	} else {
		s.flash(c, "The workspace moved from "+from.Label()+" to "+to.Label()+". The new limits apply now.")
	}
	return s.redirect(c, paths.Settings.URL(m.Slug))
}

// settingsDeleteConfirm asks before the workspace is deleted, with the address typed on the
// settings page (?confirm=): in the settings page's dialog, or as a page of its own. A refused
// confirmation comes back here after its redirect, with its error and what was typed.
func (s *Server) settingsDeleteConfirm(c echo.Context) error {
	m := membership(c)
	vm := views.DeleteWorkspacePage{Frame: s.frame(c, "Delete workspace", "settings"), InDialog: isHTMX(c), Name: m.Name, Slug: m.Slug,
		Typed: c.QueryParam("confirm")}
	if !isHTMX(c) {
		var back formBack
		if s.takeForm(c, "delete", &back) {
			vm.Typed, vm.Error = back.Values["confirm"], back.Errors["confirm"]
		}
	}
	return s.render(c, http.StatusOK, views.DeleteWorkspaceView(vm), views.DeleteWorkspacePanel(vm))
}

// settingsDelete deletes the workspace once the owner has typed its address. A confirmation that
// does not match ends in a redirect to the page that asks, which says so.
func (s *Server) settingsDelete(c echo.Context) error {
	m := membership(c)
	if answered, err := s.stepUp(c, "Delete the workspace "+m.Name, paths.Settings.URL(m.Slug)); answered {
		return err
	}
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.DeleteWorkspace(ctx, tn, actor(c), c.FormValue("confirm"))
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		s.putForm(c, "delete", formBack{Values: map[string]string{"confirm": c.FormValue("confirm")}, Errors: ve.Fields})
		return s.redirect(c, paths.SettingsDelete.URL(m.Slug))
	}
	if err != nil {
		return err
	}
	s.flash(c, "The workspace "+ws.Name+" was deleted.")
	return s.redirect(c, paths.Workspaces.URL())
}

// settingsTwoFactorUpdate turns "require two-factor" on or off (field require_two_factor: "on" or
// absent).
func (s *Server) settingsTwoFactorUpdate(c echo.Context) error {
	m := membership(c)
	on := c.FormValue("require_two_factor") == "on"
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.SetRequireTwoFactor(ctx, tn, actor(c), on)
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		vm, err := s.settingsPage(c, settingsExtras{twoFAError: ve.Fields["require_two_factor"]})
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, views.SettingsView(vm), nil)
	}
	if err != nil {
		return err
	}
	if ws.RequireTwoFactor {
		s.flash(c, ws.Name+" now requires two-factor authentication. Members without it are asked to set it up.")
	} else {
		s.flash(c, ws.Name+" no longer requires two-factor authentication.")
	}
	return s.redirect(c, paths.Settings.URL(m.Slug))
}
