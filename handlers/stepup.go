package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/models"
	"atrium/views"
)

// stepUp guards a dangerous action (deleting a workspace, creating a read-write key): it lets the
// request through when the session proved who it is within models.StepUpWindow, or when the
// request carries the step-up form's password or current code (the proof is then recorded, so the
// next few minutes ask nothing). A person with a passkey may confirm with it instead: the form's
// "Confirm with a passkey" runs the ceremony (passkeyStepUp records the proof) and posts the form
// again. Otherwise it answers with the step-up form, which posts the same
// action again with the same fields, and returns answered: the handler returns err as it is.
//
// Without JavaScript the form is a page of its own; for htmx it replaces the page's main area.
func (s *Server) stepUp(c echo.Context, what, cancel string) (answered bool, err error) {
	if s.recentlyAuthenticated(c) {
		return false, nil
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
	if err != nil {
		return true, err
	}
	vm := views.StepUpPage{What: what, Action: c.Request().URL.Path, TOTP: st.Enabled, Cancel: cancel}
	if s.passkeysOn() {
		n, err := models.CountPasskeys(ctx, s.DB, u.ID)
		if err != nil {
			return true, err
		}
		vm.Passkey = n > 0
	}
	status := http.StatusOK
	if c.FormValue("step_up") == "1" {
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
	slices.SortStableFunc(vm.Fields, func(a, b views.HiddenField) int { return strings.Compare(a.Name, b.Name) })
	vm.Frame = s.frame(c, "Confirm it's you", "")
	if isHTMX(c) {
		c.Response().Header().Set("HX-Retarget", "#main")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
	}
	return true, s.render(c, status, views.StepUpView(vm), views.StepUpForm(vm))
}
