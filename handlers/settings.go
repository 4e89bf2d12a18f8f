package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/models/mail"
	"atrium/views"
)

// settingsExtras is what a settings page shows beyond the workspace: a form being corrected or a
// downgrade just refused.
type settingsExtras struct {
	name       *string
	nameError  string
	refused    *models.TierChangeRefused
	tierError  string
	chosen     string // the tier the refused form asked for
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
	vm.Name, vm.Tier, vm.RequireTwoFactor, vm.NotifySupportAccess = m.Name, string(m.Tier), m.RequireTwoFactor, m.NotifySupportAccess
	err := s.readPage(c, s.DB, func(ctx context.Context, tn *models.Tenant) error {
		u, exp, err := models.SettingsRead(ctx, tn, m.Tier, s.Now())
		if err != nil {
			return err
		}
		vm.Export = s.exportPanel(c, exp)
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
	vm.TierError, vm.Chosen = x.tierError, x.chosen
	if x.refused != nil && len(x.refused.Reduce) > 0 {
		vm.Refused = &views.TierRefusal{To: x.refused.To.Label(), Reduce: x.refused.Reduce}
		if x.refused.RunningTasks {
			vm.Refused.RunningURL = views.RunningTasksURL(vm.Slug)
		}
	}
	return vm, err
}

// settingsIndex shows the settings page (owners only: every change on it is theirs to make), with
// a form refused just before (see refuseForm) back in it once.
func (s *Server) settingsIndex(c echo.Context) error {
	var x settingsExtras
	if !isHTMX(c) {
		var name, tier, twoFA formBack
		if s.takeForm(c, "settings-name", &name) {
			v := name.Values["name"]
			x.name, x.nameError = &v, name.Errors["name"]
		}
		if s.takeForm(c, "settings-tier", &tier) {
			to, _ := models.ParseTier(tier.Values["tier"])
			x.refused = &models.TierChangeRefused{To: to, Reduce: tier.List, RunningTasks: tier.Values["running"] == "yes"}
			x.tierError, x.chosen = tier.Errors["tier"], tier.Values["tier"]
		}
		if s.takeForm(c, "settings-two-factor", &twoFA) {
			x.twoFAError = twoFA.Errors["require_two_factor"]
		}
	}
	vm, err := s.settingsPage(c, x)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.SettingsView(vm), nil)
}

// settingsNameUpdate renames the workspace; a refused name comes back in the form: swapped in with
// 422 for htmx, after a redirect without JavaScript.
func (s *Server) settingsNameUpdate(c echo.Context) error {
	m := membership(c)
	name := c.FormValue("name")
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.RenameWorkspace(ctx, tn, actor(c), name, s.Now())
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) && !isHTMX(c) {
		return s.refuseForm(c, "settings-name", paths.Settings.URL(m.Slug),
			formBack{Values: map[string]string{"name": name}, Errors: ve.Fields})
	}
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

// settingsTierUpdate changes the tier. A downgrade that current use exceeds is refused with what to
// reduce first: on the settings page after a redirect for a browser; htmx gets 409 and shows the
// message in the flash area.
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
		running := ""
		if refused.RunningTasks {
			running = "yes"
		}
		return s.refuseForm(c, "settings-tier", paths.Settings.URL(m.Slug),
			formBack{Values: map[string]string{"tier": string(refused.To), "running": running}, List: refused.Reduce})
	case errors.As(err, &ve) && !isHTMX(c):
		return s.refuseForm(c, "settings-tier", paths.Settings.URL(m.Slug),
			formBack{Values: map[string]string{"tier": string(to)}, Errors: ve.Fields})
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

// settingsDelete schedules the workspace's deletion once the owner has typed its address (owners
// can restore it from their workspace list for 30 days, and are mailed how). A confirmation that
// does not match ends in a redirect to the page that asks, which says so.
func (s *Server) settingsDelete(c echo.Context) error {
	m := membership(c)
	if answered, err := s.stepUp(c, "Delete the workspace "+m.Name, paths.Settings.URL(m.Slug)); answered {
		return err
	}
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.DeleteWorkspace(ctx, tn, actor(c), c.FormValue("confirm"), s.Now(), s.deletionMail(c))
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseForm(c, "delete", paths.SettingsDelete.URL(m.Slug),
			formBack{Values: map[string]string{"confirm": c.FormValue("confirm")}, Errors: ve.Fields})
	}
	if err != nil {
		return err
	}
	s.flash(c, "The workspace "+ws.Name+" was deleted. Owners can restore it from this list until "+
		models.RestoreBy(*ws.DeletedAt).UTC().Format("Jan 2, 2006 15:04 UTC")+".")
	return s.redirect(c, paths.Workspaces.URL())
}

// deletionMail composes the owners' mail about a deletion, when mail reaches anyone.
func (s *Server) deletionMail(c echo.Context) models.DeletionMail {
	if !s.mailReady() {
		return nil
	}
	by := currentUser(c).DisplayName()
	return func(ws *models.Workspace, to string, restoreBy time.Time) *models.Mail {
		m := mail.WorkspaceDeleted(to, ws.Name, ws.Slug, by, s.link(paths.Workspaces.URL()), restoreBy).Queued()
		return &m
	}
}

// settingsTwoFactorUpdate turns "require two-factor" on or off (field require_two_factor: "on" or
// absent).
func (s *Server) settingsTwoFactorUpdate(c echo.Context) error {
	m := membership(c)
	on := c.FormValue("require_two_factor") == "on"
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.SetRequireTwoFactor(ctx, tn, actor(c), on, s.Now())
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseForm(c, "settings-two-factor", paths.Settings.URL(m.Slug),
			formBack{Errors: ve.Fields})
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

// settingsSupportMailUpdate turns the owners' mail at every support access on or off (field
// notify_support_access: "on" or absent).
func (s *Server) settingsSupportMailUpdate(c echo.Context) error {
	m := membership(c)
	on := c.FormValue("notify_support_access") == "on"
	var ws *models.Workspace
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		ws, err = models.SetNotifySupportAccess(ctx, tn, actor(c), on, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	if ws.NotifySupportAccess {
		s.flash(c, "Owners of "+ws.Name+" are now mailed each time Atrium support opens it, with the reason and ticket.")
	} else {
		s.flash(c, "Owners of "+ws.Name+" are no longer mailed when Atrium support opens it; the audit log still records every look.")
	}
	return s.redirect(c, paths.Settings.URL(m.Slug))
}
