package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/handlers/metrics"
	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// signupPage shows the sign-up form, with a refused one back in it once (never its password).
func (s *Server) signupPage(c echo.Context) error {
	if currentUser(c) != nil {
		return s.redirect(c, safeNext(c.QueryParam("next"), paths.Workspaces.URL()))
	}
	vm := views.AuthPage{Frame: s.frame(c, "Sign up", ""), Next: safeNext(c.QueryParam("next"), "")}
	var back formBack
	if s.takeForm(c, "signup", &back) {
		vm.Email, vm.Name, vm.Errors = back.Values["email"], back.Values["name"], back.Errors
	}
	return s.render(c, http.StatusOK, views.SignupPage(vm), nil)
}

// withNext is page with where the visitor was going, kept in its address across a redirect.
func withNext(page, next string) string {
	if next == "" {
		return page
	}
	return page + "?next=" + url.QueryEscape(next)
}

// signup creates the account and logs the new user in.
func (s *Server) signup(c echo.Context) error {
	ctx := c.Request().Context()
	in := models.NewUser{Email: c.FormValue("email"), Name: c.FormValue("name"), Password: c.FormValue("password")}
	next := safeNext(c.FormValue("next"), "")
	u, err := models.SignUpVerified(ctx, s.DB, in, s.verifyMail, s.Now())
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseForm(c, "signup", withNext(paths.Signup.URL(), next),
			formBack{Values: map[string]string{"email": in.Email, "name": in.Name}, Errors: ve.Fields})
	}
	if err != nil {
		return err
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	if s.mailReady() {
		s.flash(c, "Welcome. We sent a link to "+u.Email+": open it to confirm your address.")
	}
	return s.redirect(c, safeNext(next, paths.Workspaces.URL()))
}

// loginPage shows the log-in form, with a refused log-in's message and email back in it once.
func (s *Server) loginPage(c echo.Context) error {
	if currentUser(c) != nil {
		return s.redirect(c, safeNext(c.QueryParam("next"), "/"))
	}
	vm := views.AuthPage{Frame: s.frame(c, "Log in", ""), Next: safeNext(c.QueryParam("next"), ""), PasskeysOn: s.passkeysOn()}
	var back formBack
	if s.takeForm(c, "login", &back) {
		vm.Email, vm.Message, vm.Errors = back.Values["email"], back.Message, back.Errors
	}
	return s.render(c, http.StatusOK, views.LoginPage(vm), nil)
}

// login checks the credentials, with throttling per account and per client IP. A refusal goes
// back to the log-in page (POST, redirect, GET) with the email and where the visitor was going;
// a wrong password and an unknown email answer alike.
func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	email, _ := models.NormalizeEmail(c.FormValue("email"))
	password := c.FormValue("password")
	next := safeNext(c.FormValue("next"), "")
	ip := c.RealIP()
	refuse := func(msg string) error {
		return s.refuseForm(c, "login", withNext(paths.Login.URL(), next),
			formBack{Values: map[string]string{"email": c.FormValue("email")}, Message: msg})
	}
	if msg := models.TextProblem(c.FormValue("email"), false); msg != "" {
		// Never looked up, never counted as a failure: no account has such an email.
		return s.refuseForm(c, "login", withNext(paths.Login.URL(), next), formBack{Errors: map[string]string{"email": msg}})
	}
	wait, err := models.LoginLockedFor(ctx, s.DB, email, ip, s.Now())
	if err != nil {
		return err
	}
	if wait > 0 {
		mins := int(math.Ceil(wait.Minutes()))
		unit := "minutes"
		if mins == 1 {
			unit = "minute"
		}
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		s.refused(metrics.LoginThrottled)
		return refuse(fmt.Sprintf("Too many failed log-ins. Try again in %d %s.", mins, unit))
	}
	u, err := models.Authenticate(ctx, s.DB, email, password, s.Now())
	if errors.Is(err, models.ErrBadCredentials) {
		if err := models.RecordLoginFailure(ctx, s.DB, email, ip, s.Now()); err != nil {
			return err
		}
		return refuse("The email or password is incorrect.")
	}
	if err != nil {
		return err
	}
	if err := models.ClearLoginFailures(ctx, s.DB, email); err != nil {
		return err
	}
	return s.afterPassword(c, u, next)
}

// startSession binds the session to u under a fresh token (no session fixation) and lists it; the
// person has just proved who they are (see markAuthenticated).
func (s *Server) startSession(c echo.Context, u *models.User) error {
	ctx := c.Request().Context()
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.Sessions.Put(ctx, "user_id", u.ID.String())
	s.markAuthenticated(c)
	s.Sessions.Remove(ctx, "csrf") // a new token for the new privilege
	_, err := models.TrackSession(ctx, s.DB, u.ID, s.Sessions.Token(ctx), c.Request().UserAgent(), c.RealIP(), s.Now())
	return err
}

// renewSession changes the session token after a privilege change, keeping the session listed.
func (s *Server) renewSession(c echo.Context) error {
	ctx := c.Request().Context()
	old := s.Sessions.Token(ctx)
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	return models.RenewSession(ctx, s.DB, old, s.Sessions.Token(ctx))
}

// logout ends the session on the server, not only in the browser.
func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if tok := s.Sessions.Token(ctx); tok != "" {
		if err := models.ForgetSession(ctx, s.DB, tok); err != nil {
			return err
		}
	}
	if err := s.Sessions.Destroy(ctx); err != nil {
		return err
	}
	s.flash(c, "You are logged out.")
	return s.redirect(c, paths.Login.URL())
}

// home is where a log-in lands: support staff on the support console; everyone else in the
// workspace they used last (on any device), or their only one, or else the list.
func (s *Server) home(c echo.Context) error {
	u := currentUser(c)
	if u.IsSupport() {
		return s.redirect(c, paths.SupportWorkspaces.URL())
	}
	list, err := s.userWorkspaces(c, u)
	if err != nil {
		return err
	}
	if slug := models.Landing(u, list); slug != "" {
		return s.redirect(c, paths.Workspace.URL(slug))
	}
	return s.redirect(c, paths.Workspaces.URL())
}

// trimDevice shortens a user agent to something a person recognises.
func trimDevice(ua string) string {
	for _, b := range []string{"Firefox", "Edg", "Chrome", "Safari", "curl", "Go-http-client"} {
		if strings.Contains(ua, b) {
			os := ""
			for _, o := range []string{"Windows", "Mac OS", "Linux", "Android", "iPhone"} {
				if strings.Contains(ua, o) {
					os = " on " + o
					break
				}
			}
			if b == "Edg" {
				b = "Edge"
			}
			return b + os
		}
	}
	if ua == "" {
		return "Unknown device"
	}
	if len(ua) > 40 {
		return ua[:40] + "…"
	}
	return ua
}
