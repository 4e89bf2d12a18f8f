package handlers

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

func (s *Server) accountView(c echo.Context, status int, vm views.AccountPage) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	vm.Frame = s.frame(c, "Account", "")
	if vm.Name == "" {
		vm.Name = u.Name
	}
	list, err := models.ActiveSessions(ctx, s.DB, u.ID)
	if err != nil {
		return err
	}
	cur := s.Sessions.Token(ctx)
	for _, us := range list {
		vm.Sessions = append(vm.Sessions, views.SessionRow{ID: us.ID.String(), Device: trimDevice(us.UserAgent), IP: us.IP,
			Created: us.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), LastSeen: us.LastSeenAt.UTC().Format("2006-01-02 15:04 UTC"),
			Current: us.Token == cur})
	}
	return s.render(c, status, views.AccountView(vm), nil)
}

// accountPage shows the profile, password form and sessions.
func (s *Server) accountPage(c echo.Context) error {
	return s.accountView(c, http.StatusOK, views.AccountPage{})
}

// accountNameUpdate changes the user's display name.
func (s *Server) accountNameUpdate(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	if msg := models.CheckUserName(name); msg != "" {
		return s.accountView(c, http.StatusUnprocessableEntity, views.AccountPage{Name: name, NameErrors: views.FormErrors{"name": msg}})
	}
	u := currentUser(c)
	if _, err := s.DB.NewUpdate().Model(u).Set("name = ?", name).WherePK().Exec(c.Request().Context()); err != nil {
		return err
	}
	s.flash(c, "Your name is saved.")
	return s.redirect(c, paths.Account.URL())
}

// accountPasswordUpdate changes the password (the current one is required) and ends every other
// session of the user.
func (s *Server) accountPasswordUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	ok, err := models.VerifyPassword(u.PasswordHash, c.FormValue("current_password"))
	if err != nil {
		return err
	}
	if !ok {
		return s.accountView(c, http.StatusUnprocessableEntity, views.AccountPage{PwErrors: views.FormErrors{"current_password": "That is not your current password."}})
	}
	pw := c.FormValue("password")
	if msg := models.CheckPassword(pw); msg != "" {
		return s.accountView(c, http.StatusUnprocessableEntity, views.AccountPage{PwErrors: views.FormErrors{"password": msg}})
	}
	hash, err := models.HashPassword(pw)
	if err != nil {
		return err
	}
	if _, err := s.DB.NewUpdate().Model(u).Set("password_hash = ?", hash).WherePK().Exec(ctx); err != nil {
		return err
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	n, err := models.EndSessions(ctx, s.DB, u.ID, uuid.Nil, s.Sessions.Token(ctx))
	if err != nil {
		return err
	}
	if err := models.RecordPlatform(ctx, s.DB, models.Event{ActorUserID: u.ID, Action: "user.password_change", Target: u.Email,
		Details: map[string]any{"sessions_ended": n}}); err != nil {
		return err
	}
	s.flash(c, "Your password is changed. Your other sessions are logged out.")
	return s.redirect(c, paths.Account.URL())
}

// accountSessionEnd ends one of the user's sessions.
func (s *Server) accountSessionEnd(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	n, err := models.EndSessions(ctx, s.DB, currentUser(c).ID, id, s.Sessions.Token(ctx))
	if err != nil {
		return err
	}
	if n == 0 {
		return echo.ErrNotFound
	}
	s.flash(c, "That session is logged out.")
	return s.redirect(c, paths.Account.URL())
}
