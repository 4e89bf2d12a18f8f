package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// stepUpForm is the session's name of the step-up form waiting on paths.StepUp (putForm, takeForm).
const stepUpForm = "step-up"

// stepUp guards a dangerous action (deleting a workspace, creating a read-write key): it lets the
// request through when the session proved who it is within models.StepUpWindow, or when the
// request carries the step-up form's password or current code (the proof is then recorded, so the
// next few minutes ask nothing). A person with a passkey may confirm with it instead: the form's
// "Confirm with a passkey" runs the ceremony (passkeyStepUp records the proof) and posts the form
// again. Otherwise it answers with the step-up form, which posts the same
// action again with the same fields, and returns answered: the handler returns err as it is.
//
// For htmx the form replaces the page's main area. Without JavaScript the POST ends in a redirect
// (so a reload never sends it again) to paths.StepUp, which shows the form: the action, what it
// is, and its fields (never a password or a code) wait in the session meanwhile, with the last
// try's message, shown once.
func (s *Server) stepUp(c echo.Context, what, cancel string) (answered bool, err error) {
	if s.recentlyAuthenticated(c) {
		return false, nil
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	vm := views.StepUpPage{What: what, Action: c.Request().URL.Path, Cancel: cancel}
	status := http.StatusOK
	if c.FormValue("step_up") == "1" {
		st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
		if err != nil {
			return true, err
		}
		wait, err := s.secondFactorLocked(c, u.ID)
		if err != nil {
			return true, err
		}
		ok := false
		if wait == "" {
			pw, code := c.FormValue("step_up_password"), c.FormValue("step_up_code")
			switch {
			case code != "" && st.Enabled:
				ok, err = models.VerifyTOTP(ctx, s.DB, u.ID, code, s.Now())
			case pw != "":
				ok, err = models.VerifyPassword(u.PasswordHash, pw)
			}
			if err != nil {
				return true, err
			}
		}
		if ok {
			if err := models.ClearSecondFactorFailures(ctx, s.DB, u.ID); err != nil {
				return true, err
			}
			s.markAuthenticated(c)
			s.Sessions.Remove(ctx, "form:"+stepUpForm)
			return false, nil
		}
		if wait != "" {
			vm.Error, status = wait, http.StatusTooManyRequests
		} else {
			if err := models.RecordSecondFactorFailure(ctx, s.DB, u.ID, c.RealIP(), s.Now()); err != nil {
				return true, err
			}
			vm.Error, status = "That is not right. Enter your password, or the code your authenticator app shows now.", http.StatusUnprocessableEntity
			if !st.Enabled {
				vm.Error = "That is not your password."
			}
		}
	}
	form, _ := c.FormParams()
	for name, vals := range form {
		if name == "_csrf" || name == "password" || name == "code" || strings.HasPrefix(name, "step_up") {
			continue
		}
		for _, v := range vals {
			vm.Fields = append(vm.Fields, views.HiddenField{Name: name, Value: v})
		}
	}
	if !isHTMX(c) {
		fields := url.Values{}
		for _, f := range vm.Fields {
			fields.Add(f.Name, f.Value)
		}
		s.putForm(c, stepUpForm, formBack{Message: vm.Error, Values: map[string]string{
			"action": vm.Action, "what": what, "cancel": cancel, "fields": fields.Encode()}})
		return true, s.redirect(c, paths.StepUp.URL())
	}
	c.Response().Header().Set("HX-Retarget", "#main")
	c.Response().Header().Set("HX-Reswap", "innerHTML")
	return true, s.stepUpView(c, status, vm, views.StepUpForm)
}

// stepUpPage shows the step-up form a dangerous action sent without JavaScript redirected to, the
// last try's message once. The form stays in the session until the action is confirmed, so a
// reload shows it again, clean; with none waiting, there is nothing to confirm.
func (s *Server) stepUpPage(c echo.Context) error {
	var back formBack
	if !s.takeForm(c, stepUpForm, &back) || safeNext(back.Values["action"], "") == "" {
		return s.redirect(c, paths.Home.URL())
	}
	vm := views.StepUpPage{What: back.Values["what"], Action: back.Values["action"],
		Cancel: safeNext(back.Values["cancel"], paths.Home.URL()), Error: back.Message}
	fields, _ := url.ParseQuery(back.Values["fields"])
	for name, vals := range fields {
		for _, v := range vals {
			vm.Fields = append(vm.Fields, views.HiddenField{Name: name, Value: v})
		}
	}
	back.Message = ""
	s.putForm(c, stepUpForm, back)
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.stepUpView(c, http.StatusOK, vm, views.StepUpView)
}

// stepUpView renders the step-up form with the ways the signed-in person can confirm: the
// password always, a code with an authenticator app, a passkey where passkeys work.
func (s *Server) stepUpView(c echo.Context, status int, vm views.StepUpPage, comp func(views.StepUpPage) templ.Component) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
	if err != nil {
		return err
	}
	vm.TOTP = st.Enabled
	if s.passkeysOn() {
		n, err := models.CountPasskeys(ctx, s.DB, u.ID)
		if err != nil {
			return err
		}
		vm.Passkey = n > 0
	}
	slices.SortStableFunc(vm.Fields, func(a, b views.HiddenField) int { return strings.Compare(a.Name, b.Name) })
	vm.Frame = s.frame(c, "Confirm it's you", "")
	return s.render(c, status, comp(vm), nil)
}
