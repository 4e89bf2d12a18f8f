package handlers

import (
	"errors"
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
	vm.TwoFactor = hasSecondFactor(c)
	if vm.TwoFactor {
		// The second factor may be passkeys alone; the deletion form asks for a code only when
		// there is an authenticator app.
		st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
		if err != nil {
			return err
		}
		vm.TwoFactorOn = st.Enabled
	}
	if vm.Name == "" {
		vm.Name = u.Name
	}
	vm.Email, vm.Verified, vm.MailOff = u.Email, u.EmailVerified(), !s.mailReady()
	list, err := models.ActiveSessions(ctx, s.DB, u.ID, s.sessionStore.Time())
	if err != nil {
		return err
	}
	cur := s.Sessions.Token(ctx)
	for _, us := range list {
		vm.Sessions = append(vm.Sessions, views.SessionRow{ID: us.ID.String(), Device: trimDevice(us.UserAgent), IP: us.IP,
			Created: us.CreatedAt, LastSeen: us.LastSeenAt,
			Current: us.Token == cur})
	}
	if vm.SoleOwned == nil {
		owned, err := models.SoleOwnedShared(ctx, s.DB, u.ID)
		if err != nil {
			return err
		}
		for _, w := range owned {
			vm.SoleOwned = append(vm.SoleOwned, views.SoleOwnedRow{Name: w.Name, Members: w.Members,
				MembersURL: paths.Members.URL(w.Slug)})
		}
	}
	vm.PasskeysOn = s.passkeysOn()
	keys, err := models.ListPasskeys(ctx, s.DB, u.ID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		vm.Passkeys = append(vm.Passkeys, views.PasskeyRow{ID: k.ID.String(), Name: k.Name,
			Created: k.CreatedAt, LastUsed: k.LastUsedAt, CloneWarning: k.CloneWarning})
	}
	// A person whose second factor is passkeys alone confirms the deletion with one of them.
	vm.DeletePasskey = vm.PasskeysOn && len(keys) > 0 && !vm.TwoFactorOn
	vm.DeletePasskeyDone = vm.DeletePasskey && s.recentlyConfirmedWithPasskey(c)
	return s.render(c, status, views.AccountView(vm), nil)
}

// accountPage shows the profile, password form and sessions, with a form refused just before
// (see refuseForm) back in it once.
func (s *Server) accountPage(c echo.Context) error {
	var vm views.AccountPage
	var name, email, pw, del formBack
	if s.takeForm(c, "account-name", &name) {
		vm.Name, vm.NameErrors = name.Values["name"], name.Errors
	}
	if s.takeForm(c, "account-email", &email) {
		vm.NewEmail, vm.EmailErrors = email.Values["email"], email.Errors
	}
	if s.takeForm(c, "account-password", &pw) {
		vm.PwErrors = pw.Errors
	}
	if s.takeForm(c, "account-delete", &del) {
		vm.DeleteErrors = del.Errors
	}
	return s.accountView(c, http.StatusOK, vm)
}

// refuseAccountForm sends a refused form of the account page back to it (POST, redirect, GET):
// its messages and values, never a password.
func (s *Server) refuseAccountForm(c echo.Context, name string, values, errs map[string]string) error {
	return s.refuseForm(c, name, paths.Account.URL(), formBack{Values: values, Errors: errs})
}

// accountNameUpdate changes the user's display name.
func (s *Server) accountNameUpdate(c echo.Context) error {
	name := c.FormValue("name")
	err := models.RenameUser(c.Request().Context(), s.DB, currentUser(c), name)
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseAccountForm(c, "account-name", map[string]string{"name": strings.TrimSpace(name)}, ve.Fields)
	}
	if err != nil {
		return err
	}
	s.flash(c, "Your name is saved.")
	return s.redirect(c, paths.Account.URL())
}

// accountPasswordUpdate changes the password (the current one is required) and ends every other
// session of the user.
func (s *Server) accountPasswordUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	_, err := models.ChangePassword(ctx, s.DB, currentUser(c), models.PasswordChange{
		Current: c.FormValue("current_password"), New: c.FormValue("password"),
		Renew: func() (string, error) {
			if err := s.renewSession(c); err != nil {
				return "", err
			}
			return s.Sessions.Token(ctx), nil
		},
	}, s.Now())
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseAccountForm(c, "account-password", nil, ve.Fields)
	}
	if err != nil {
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

// accountDelete deletes the signed-in person's account (password, the confirmation box, and a
// current authenticator code when the account has one, or else, when its second factor is passkeys
// alone, a passkey step-up within models.StepUpWindow), ends this session and says so on the
// log-in page.
func (s *Server) accountDelete(c echo.Context) error {
	ctx := c.Request().Context()
	if c.FormValue("confirm") != "yes" {
		return s.refuseAccountForm(c, "account-delete", nil, map[string]string{
			"confirm": "Tick the box to confirm that you want your account deleted."})
	}
	if need, err := s.deletionNeedsPasskey(c); err != nil {
		return err
	} else if need && !s.recentlyConfirmedWithPasskey(c) {
		return s.refuseAccountForm(c, "account-delete", nil, map[string]string{
			"passkey": "Confirm with your passkey first (the button above “Delete my account”), then delete. Nothing was deleted."})
	}
	done, err := models.DeleteAccount(ctx, s.DB, currentUser(c),
		models.AccountDeletion{Password: c.FormValue("password"), Code: c.FormValue("code")}, s.Now())
	var ve *models.ValidationError
	var blocked *models.AccountDeletionBlocked
	switch {
	case errors.As(err, &ve):
		return s.refuseAccountForm(c, "account-delete", nil, ve.Fields)
	case errors.As(err, &blocked):
		// The page after the redirect lists the workspaces to hand over first.
		return s.refuseAccountForm(c, "account-delete", nil, map[string]string{"confirm": blocked.Error()})
	case err != nil:
		return err
	}
	// The model deleted every session row of the account, this one's too; the session manager
	// must not write it back.
	if err := s.Sessions.Destroy(ctx); err != nil {
		return err
	}
	msg := "Your account is deleted."
	if n := len(done.WorkspacesDeleted); n > 0 {
		msg += " " + strings.Join(done.WorkspacesDeleted, ", ") + " went with it, as you were its only member."
		if n > 1 {
			msg = strings.Replace(msg, "its only member", "their only member", 1)
		}
	}
	s.flash(c, msg)
	return s.redirect(c, paths.Login.URL())
}

// deletionNeedsPasskey reports whether the signed-in person's second factor is passkeys alone
// (no authenticator app), so that deleting the account needs a passkey step-up. With passkeys off
// (an address that cannot serve them) no ceremony can run, and the password alone is asked.
func (s *Server) deletionNeedsPasskey(c echo.Context) (bool, error) {
	if !s.passkeysOn() {
		return false, nil
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
	if err != nil || st.Enabled {
		return false, err
	}
	n, err := models.CountPasskeys(ctx, s.DB, u.ID)
	return n > 0, err
}
