package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/models/mail"
	"atrium/views"
)

// forgotPage asks for the address to mail a reset link to, with a refused request back in it once.
func (s *Server) forgotPage(c echo.Context) error {
	vm := views.RecoveryPage{Frame: s.frame(c, "Forgot password", ""), MailOff: !s.mailReady()}
	var back formBack
	if s.takeForm(c, "forgot", &back) {
		vm.Email, vm.Message, vm.Errors = back.Values["email"], back.Message, back.Errors
	}
	return s.render(c, http.StatusOK, views.ForgotPage(vm), nil)
}

// resetSent is the one answer to a reset request, whether or not an account has the address.
const resetSent = "If an account uses that address, we sent it a link to choose a new password. It works for 30 minutes; check your spam folder too."

// forgot queues a reset link for the address. The answer and the work behind it are the same for
// any well-formed address; requests are throttled per address and per IP. Every answer is a
// redirect to the form's page, which says what happened.
func (s *Server) forgot(c echo.Context) error {
	ctx := c.Request().Context()
	raw := c.FormValue("email")
	back := func(f formBack) error {
		f.Values = map[string]string{"email": raw}
		return s.refuseForm(c, "forgot", paths.PasswordForgot.URL(), f)
	}
	if !s.mailReady() {
		return s.redirect(c, paths.PasswordForgot.URL()) // the page says mail is off
	}
	email, ok := models.NormalizeEmail(raw)
	if !ok {
		return back(formBack{Errors: map[string]string{"email": "Enter a valid email address."}})
	}
	wait, err := models.ResetLimited(ctx, s.DB, email, c.RealIP(), s.Now())
	if err != nil {
		return err
	}
	if wait > 0 {
		mins := int(math.Ceil(wait.Minutes()))
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		return back(formBack{Message: "Too many reset requests. Try again in " + plural(mins, "minute") + "."})
	}
	if err := models.RequestPasswordReset(ctx, s.DB, email, c.RealIP(), s.Now()); err != nil {
		return err
	}
	s.flash(c, resetSent)
	return s.redirect(c, paths.PasswordForgot.URL())
}

// resetPage shows the new-password form of a reset link (with a refused password's message once),
// or that the link no longer works.
func (s *Server) resetPage(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	token := c.Param("token")
	email, err := models.PasswordResetEmail(c.Request().Context(), s.DB, token, s.Now())
	if errors.Is(err, models.ErrLinkInvalid) {
		return s.render(c, http.StatusGone, views.ResetPage(views.RecoveryPage{Frame: s.frame(c, "Reset password", ""), LinkGone: true}), nil)
	}
	if err != nil {
		return err
	}
	vm := views.RecoveryPage{Frame: s.frame(c, "Reset password", ""), Email: email, Token: token}
	var back formBack
	if s.takeForm(c, "reset", &back) {
		vm.Errors = back.Errors
	}
	return s.render(c, http.StatusOK, views.ResetPage(vm), nil)
}

// reset sets the new password: every session of the account ends (this browser's too, if it had
// one), every other reset link stops working, and the person is told by mail. A refused password,
// or a link that stopped working, goes back to the link's page, which says so.
func (s *Server) reset(c echo.Context) error {
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	token := c.Param("token")
	u, err := models.ResetPassword(ctx, s.DB, token, c.FormValue("password"), func(to string, at time.Time) models.Mail {
		return mail.PasswordChanged(to, at).Queued()
	}, s.Now())
	var ve *models.ValidationError
	switch {
	case errors.Is(err, models.ErrLinkInvalid):
		return s.redirect(c, paths.PasswordReset.URL(token))
	case errors.As(err, &ve):
		return s.refuseForm(c, "reset", paths.PasswordReset.URL(token), formBack{Errors: ve.Fields})
	case err != nil:
		return err
	}
	// The store's rows are gone; this browser's session must not be written back under its old
	// token, so it starts afresh, signed out.
	if err := s.Sessions.Clear(ctx); err != nil {
		return err
	}
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.flash(c, "Your password is changed and every session of "+u.Email+" is logged out. Log in with the new password.")
	return s.redirect(c, paths.Login.URL())
}

// verifyMail makes the verification email of a token.
func (s *Server) verifyMail(to, token string, expires time.Time) models.Mail {
	return mail.VerifyEmail(to, s.link(paths.EmailVerify.URL(token)), expires).Queued()
}

// emailVerify opens a verification or email-change link.
func (s *Server) emailVerify(c echo.Context) error {
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	u, err := models.ConfirmEmail(ctx, s.DB, c.Param("token"), s.Now())
	if errors.Is(err, models.ErrLinkInvalid) {
		return models.Errorf(models.ErrLinkInvalid, "This confirmation link has expired, was already used or was replaced by a newer one. Log in and ask for a new one on your account page.")
	}
	if err != nil {
		return err
	}
	s.flash(c, "Your email address "+u.Email+" is confirmed.")
	if me := currentUser(c); me != nil && me.ID == u.ID {
		return s.redirect(c, paths.Account.URL())
	}
	return s.redirect(c, paths.Login.URL())
}

// verifyResend mails a fresh verification link.
func (s *Server) verifyResend(c echo.Context) error {
	if !s.mailReady() {
		return models.Errorf(models.ErrConflict, "Mail is not configured on this server, so confirmation links cannot be sent.")
	}
	u := currentUser(c)
	if err := models.ResendVerification(c.Request().Context(), s.DB, u, s.verifyMail, s.Now()); err != nil {
		return err
	}
	s.flash(c, "We sent a new confirmation link to "+u.Email+". Earlier links no longer work.")
	return s.redirect(c, paths.Account.URL())
}

// accountEmailUpdate asks for a new address: a link goes to it and a notice to the current one.
func (s *Server) accountEmailUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	if !s.mailReady() {
		return models.Errorf(models.ErrConflict, "Mail is not configured on this server, so the new address cannot be confirmed.")
	}
	in := models.EmailChangeRequest{Email: c.FormValue("email"), Password: c.FormValue("current_password")}
	email, err := models.RequestEmailChange(ctx, s.DB, u, in,
		func(to, token string, expires time.Time) models.Mail {
			return mail.EmailChange(to, u.Email, s.link(paths.EmailVerify.URL(token)), expires).Queued()
		},
		func(to, newAddress string, at time.Time) models.Mail {
			return mail.EmailChangeNotice(to, newAddress, at).Queued()
		},
		s.Now())
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseAccountForm(c, "account-email", map[string]string{"email": in.Email}, ve.Fields)
	}
	if err != nil {
		return err
	}
	s.flash(c, "We sent a link to "+email+". Your address stays "+u.Email+" until it is opened.")
	return s.redirect(c, paths.Account.URL())
}

// requireVerified refuses what needs a confirmed address. An htmx form goes to the account page,
// where the flash says why and offers to resend the link; a plain form gets the refusal page with
// the same offer.
func (s *Server) requireVerified(c echo.Context) error {
	err := models.CheckVerified(currentUser(c))
	if err == nil || !isHTMX(c) {
		return err
	}
	s.flashError(c, err.Error())
	return s.redirect(c, paths.Account.URL())
}

// mailLinks finds the links in a message body, for the development mailbox.
var mailLinks = regexp.MustCompile(`https?://\S+`)

// devMail is the development mailbox: the outbox, newest first. It does not exist in production.
func (s *Server) devMail(c echo.Context) error {
	if s.Cfg.Production {
		return echo.ErrNotFound
	}
	list, err := models.RecentMail(c.Request().Context(), s.DB, 100)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	vm := views.DevMailPage{Frame: s.frame(c, "Development mailbox", "")}
	for _, m := range list {
		vm.Mail = append(vm.Mail, views.DevMail{To: m.To, Subject: m.Subject, Body: m.Body, State: m.MailState(),
			Created: m.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), LastError: m.LastError, Attempts: m.Attempts,
			Links: mailLinks.FindAllString(m.Body, -1)})
	}
	return s.render(c, http.StatusOK, views.DevMailView(vm), nil)
}
