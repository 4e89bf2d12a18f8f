package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// Session keys of the log-in's second step and of step-up.
const (
	// sessPendingUser is the user whose password was right and whose second factor is still to
	// come. The session is not signed in (no user_id) while it holds only this.
	sessPendingUser = "pending_user"
	sessPendingAt   = "pending_at"   // when the password was right (unix seconds, the server's clock)
	sessPendingNext = "pending_next" // where the log-in was going
	// sessAuthAt is when the person last proved who they are (password, code or passkey), for
	// step-up (unix seconds, the server's clock).
	sessAuthAt = "auth_at"
	// sessPasskeyAt is when the person last confirmed themselves with a passkey (a passkey log-in
	// or step-up), for actions that a passkey-only person must confirm with it (unix seconds).
	sessPasskeyAt = "passkey_at"
)

// pendingLoginFor is how long the second step may wait after the password.
const pendingLoginFor = 10 * time.Minute

// afterPassword continues a log-in whose password was right: a person with a second factor (an
// authenticator app, or a passkey) is asked for it (the session holds a pending log-in, not a
// signed-in user); anyone else is in. A person whose only second factor is a passkey is asked
// for the passkey. Where passkeys are off (the base URL cannot serve them) a passkey cannot be
// checked, so there only an authenticator app is asked for.
func (s *Server) afterPassword(c echo.Context, u *models.User, next string) error {
	ctx := c.Request().Context()
	has, err := models.UserHasSecondFactor(ctx, s.DB, u.ID)
	if err != nil {
		return err
	}
	if has && !s.passkeysOn() {
		st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
		if err != nil {
			return err
		}
		has = st.Enabled
	}
	if !has {
		if err := s.startSession(c, u); err != nil {
			return err
		}
		return s.redirect(c, safeNext(next, "/"))
	}
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.Sessions.Remove(ctx, "user_id")
	s.Sessions.Put(ctx, sessPendingUser, u.ID.String())
	s.Sessions.Put(ctx, sessPendingAt, s.Now().Unix())
	s.Sessions.Put(ctx, sessPendingNext, next)
	return s.redirect(c, paths.LoginTwoFactor.URL())
}

// pendingLogin is the user of the session's pending log-in, or uuid.Nil when there is none (or it
// waited too long).
func (s *Server) pendingLogin(c echo.Context) uuid.UUID {
	ctx := c.Request().Context()
	id, err := uuid.Parse(s.Sessions.GetString(ctx, sessPendingUser))
	if err != nil {
		return uuid.Nil
	}
	at := time.Unix(s.Sessions.GetInt64(ctx, sessPendingAt), 0)
	if d := s.Now().Sub(at); d < 0 || d > pendingLoginFor {
		s.clearPending(c)
		return uuid.Nil
	}
	return id
}

func (s *Server) clearPending(c echo.Context) {
	ctx := c.Request().Context()
	s.Sessions.Remove(ctx, sessPendingUser)
	s.Sessions.Remove(ctx, sessPendingAt)
	s.Sessions.Remove(ctx, sessPendingNext)
}

// completeSecondFactor signs in the pending log-in's user once a second factor has been checked
// (an authenticator code, a recovery code, or a passkey), and sends them where they were going.
func (s *Server) completeSecondFactor(c echo.Context, u *models.User) error {
	next, err := s.signInPending(c, u)
	if err != nil {
		return err
	}
	return s.redirect(c, next)
}

// signInPending ends the pending log-in, signs its user in, and returns where they were going.
func (s *Server) signInPending(c echo.Context, u *models.User) (string, error) {
	next := s.Sessions.GetString(c.Request().Context(), sessPendingNext)
	s.clearPending(c)
	if err := s.startSession(c, u); err != nil {
		return "", err
	}
	return safeNext(next, "/"), nil
}

// markAuthenticated records that the person has just proved who they are (a password, a code or a
// passkey), which step-up accepts for StepUpWindow.
func (s *Server) markAuthenticated(c echo.Context) {
	s.Sessions.Put(c.Request().Context(), sessAuthAt, s.Now().Unix())
}

// markPasskeyConfirmed records that the person has just confirmed themselves with a passkey (which
// also counts as proving who they are).
func (s *Server) markPasskeyConfirmed(c echo.Context) {
	s.markAuthenticated(c)
	s.Sessions.Put(c.Request().Context(), sessPasskeyAt, s.Now().Unix())
}

// recentlyConfirmedWithPasskey reports whether the session confirmed itself with a passkey within
// StepUpWindow.
func (s *Server) recentlyConfirmedWithPasskey(c echo.Context) bool {
	return within(s.Now(), s.Sessions.GetInt64(c.Request().Context(), sessPasskeyAt))
}

// within reports whether the unix time at is in the StepUpWindow before now (a minute of clock
// skew allowed); zero is never.
func within(now time.Time, at int64) bool {
	if at == 0 {
		return false
	}
	d := now.Sub(time.Unix(at, 0))
	return d >= -time.Minute && d < models.StepUpWindow
}

// recentlyAuthenticated reports whether the session proved who it is within StepUpWindow.
func (s *Server) recentlyAuthenticated(c echo.Context) bool {
	return within(s.Now(), s.Sessions.GetInt64(c.Request().Context(), sessAuthAt))
}

// loginTwoFactorPage asks for the second factor of a pending log-in.
func (s *Server) loginTwoFactorPage(c echo.Context) error {
	if currentUser(c) != nil {
		return s.redirect(c, "/")
	}
	if s.pendingLogin(c) == uuid.Nil {
		s.flashError(c, "Log in with your email and password first.")
		return s.redirect(c, paths.Login.URL())
	}
	vm := views.SecondFactorPage{}
	var back formBack
	if s.takeForm(c, "login-two-factor", &back) {
		vm.Message, vm.Recovery = back.Message, back.Values["recovery"] == "1"
	}
	return s.secondFactorView(c, http.StatusOK, vm)
}

// secondFactorView shows the second step with the factors the pending log-in's user has: the
// code forms for an authenticator app, the passkey button for passkeys (both when both).
func (s *Server) secondFactorView(c echo.Context, status int, vm views.SecondFactorPage) error {
	ctx := c.Request().Context()
	vm.Frame = s.frame(c, "Two-factor authentication", "")
	vm.TOTP = true
	if uid := s.pendingLogin(c); uid != uuid.Nil {
		st, err := models.ReadTwoFactor(ctx, s.DB, uid)
		if err != nil {
			return err
		}
		vm.TOTP = st.Enabled
		if s.passkeysOn() {
			n, err := models.CountPasskeys(ctx, s.DB, uid)
			if err != nil {
				return err
			}
			vm.Passkey = n > 0
		}
	}
	if !vm.TOTP && !vm.Passkey {
		vm.TOTP = true // nothing else to offer: the code forms say what is wrong
	}
	return s.render(c, status, views.SecondFactorView(vm), nil)
}

// loginTwoFactor checks the pending log-in's code or recovery code, throttled per user and per IP
// apart from the password's throttle. A refusal goes back to the second step's page (POST,
// redirect, GET), the pending log-in and where it was going kept in the session, never the code.
func (s *Server) loginTwoFactor(c echo.Context) error {
	ctx := c.Request().Context()
	if currentUser(c) != nil {
		return s.redirect(c, "/")
	}
	uid := s.pendingLogin(c)
	if uid == uuid.Nil {
		s.flashError(c, "That log-in waited too long. Log in again.")
		return s.redirect(c, paths.Login.URL())
	}
	code, recovery := c.FormValue("code"), c.FormValue("recovery_code")
	useRecovery := code == "" && recovery != ""
	refuse := func(msg string) error {
		f := formBack{Message: msg}
		if useRecovery {
			f.Values = map[string]string{"recovery": "1"} // which form was used, not what was typed
		}
		return s.refuseForm(c, "login-two-factor", paths.LoginTwoFactor.URL(), f)
	}
	if wait, err := s.secondFactorLocked(c, uid); err != nil || wait != "" {
		if err != nil {
			return err
		}
		return refuse(wait)
	}
	u, err := models.UserByID(ctx, s.DB, uid)
	if err != nil && !isNotFound(err) {
		return err
	}
	if err != nil || u.DisabledAt != nil {
		s.clearPending(c)
		s.flashError(c, "Log in again.")
		return s.redirect(c, paths.Login.URL())
	}
	var ok bool
	switch {
	case code != "":
		ok, err = models.VerifyTOTP(ctx, s.DB, uid, code, s.Now())
	case recovery != "":
		ok, err = models.UseRecoveryCode(ctx, s.DB, u, recovery, s.Now())
	}
	if err != nil {
		return err
	}
	if !ok {
		if err := models.RecordSecondFactorFailure(ctx, s.DB, uid, c.RealIP(), s.Now()); err != nil {
			return err
		}
		msg := "That code is not right, or was used already. Enter the code your authenticator app shows now."
		if useRecovery {
			msg = "That recovery code is not right, or was used already."
		} else if code == "" {
			msg = "Enter the six-digit code from your authenticator app, or a recovery code."
		}
		return refuse(msg)
	}
	if err := models.ClearSecondFactorFailures(ctx, s.DB, uid); err != nil {
		return err
	}
	if useRecovery {
		st, err := models.ReadTwoFactor(ctx, s.DB, uid)
		if err != nil {
			return err
		}
		s.flash(c, fmt.Sprintf("You used a recovery code; %d left. Make new ones on your account's two-factor page if you are running short.", st.RecoveryLeft))
	}
	return s.completeSecondFactor(c, u)
}

// secondFactorLocked says, when second steps for the user or this IP are throttled, how long for
// (and sets Retry-After); "" when they are not.
func (s *Server) secondFactorLocked(c echo.Context, uid uuid.UUID) (string, error) {
	wait, err := models.SecondFactorLockedFor(c.Request().Context(), s.DB, uid, c.RealIP(), s.Now())
	if err != nil || wait <= 0 {
		return "", err
	}
	c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
	mins := int(math.Ceil(wait.Minutes()))
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("Too many wrong codes. Try again in %d %s.", mins, unit), nil
}

// twoFactorPage shows enrolment (a secret, its QR code and the first-code form) while two-factor is
// off, or the recovery codes left and the forms to make new ones or turn it off.
// A form refused just before (see refuseForm) shows its message once, never the password or code.
func (s *Server) twoFactorPage(c echo.Context) error {
	vm := views.TwoFactorPage{Next: safeNext(c.QueryParam("next"), "")}
	var back formBack
	if s.takeForm(c, "two-factor-enable", &back) {
		vm.CodeError = back.Errors["code"]
	}
	for _, form := range []string{"disable", "recovery"} {
		if s.takeForm(c, "two-factor-"+form, &back) {
			vm.Change, vm.Errors = form, back.Errors
		}
	}
	return s.twoFactorView(c, http.StatusOK, vm)
}

func (s *Server) twoFactorView(c echo.Context, status int, vm views.TwoFactorPage) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	vm.Frame = s.frame(c, "Two-factor authentication", "")
	vm.Support = u.IsSupport()
	vm.PasskeysOn = s.passkeysOn()
	if vm.Next != "" {
		vm.Required = "This workspace requires two-factor authentication. Set it up to continue."
	} else if vm.Support {
		vm.Required = "Support staff must use two-factor authentication."
	}
	st, err := models.ReadTwoFactor(ctx, s.DB, u.ID)
	if err != nil {
		return err
	}
	vm.Enabled, vm.RecoveryLeft = st.Enabled, st.RecoveryLeft
	if vm.Enabled {
		vm.Required = ""
		return s.render(c, status, views.TwoFactorView(vm), nil)
	}
	secret, err := models.BeginTOTP(ctx, s.DB, u, s.Now())
	if err != nil {
		return err
	}
	vm.Secret = secret
	key, err := models.TOTPKey(secret, u.Email)
	if err != nil {
		return err
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	vm.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	return s.render(c, status, views.TwoFactorView(vm), nil)
}

// twoFactorEnable turns two-factor on with a first code and shows the recovery codes, once.
func (s *Server) twoFactorEnable(c echo.Context) error {
	u := currentUser(c)
	next := safeNext(c.FormValue("next"), "")
	codes, err := models.EnableTOTP(c.Request().Context(), s.DB, u, c.FormValue("code"), s.Now())
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseForm(c, "two-factor-enable", withNext(paths.TwoFactor.URL(), next),
			formBack{Errors: map[string]string{"code": ve.Fields["code"]}})
	}
	if err != nil {
		return err
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	s.markAuthenticated(c)
	return s.showRecoveryCodes(c, codes, safeNext(next, paths.TwoFactor.URL()), true)
}

// shownCodes are new recovery codes on their way to the page that shows them once.
type shownCodes struct {
	Codes    []string `json:"codes"`
	Continue string   `json:"continue"`
	Enabled  bool     `json:"enabled"`
}

// showRecoveryCodes ends the POST that made new recovery codes in a redirect to the page that
// shows them, once: they travel sealed (stashSecret), as a new API key's secret does, so a reload
// neither sends the form again nor shows them twice.
func (s *Server) showRecoveryCodes(c echo.Context, codes []string, next string, enabled bool) error {
	if err := s.stashSecret(c, "recovery-codes", shownCodes{Codes: codes, Continue: next, Enabled: enabled}); err != nil {
		return err
	}
	return s.redirect(c, paths.TwoFactorRecovery.URL())
}

// recoveryCodesPage shows the recovery codes just made, once; afterwards it is the two-factor page.
func (s *Server) recoveryCodesPage(c echo.Context) error {
	var shown shownCodes
	if !s.takeSecret(c, "recovery-codes", &shown) {
		return s.redirect(c, paths.TwoFactor.URL())
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	vm := views.RecoveryCodesPage{Frame: s.frame(c, "Recovery codes", ""), Codes: shown.Codes,
		Continue: safeNext(shown.Continue, paths.TwoFactor.URL()), Enabled: shown.Enabled}
	return s.render(c, http.StatusOK, views.RecoveryCodesView(vm), nil)
}

// twoFactorChange checks the throttle for a change that needs a current code, and counts a wrong
// code against it. A refusal goes back to the two-factor page with its messages.
func (s *Server) twoFactorChange(c echo.Context, form string, do func(models.TwoFactorChange) error) error {
	u := currentUser(c)
	if wait, err := s.secondFactorLocked(c, u.ID); err != nil || wait != "" {
		if err != nil {
			return err
		}
		return s.refuseForm(c, "two-factor-"+form, paths.TwoFactor.URL(), formBack{Errors: map[string]string{"code": wait}})
	}
	err := do(models.TwoFactorChange{Password: c.FormValue("password"), Code: c.FormValue("code")})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		if err := models.RecordSecondFactorFailure(c.Request().Context(), s.DB, u.ID, c.RealIP(), s.Now()); err != nil {
			return err
		}
		return s.refuseForm(c, "two-factor-"+form, paths.TwoFactor.URL(), formBack{Errors: ve.Fields})
	}
	return err
}

// twoFactorDisable turns two-factor off with the password and a current code. Support staff
// cannot: they always need it.
func (s *Server) twoFactorDisable(c echo.Context) error {
	u := currentUser(c)
	if u.IsSupport() {
		return echo.NewHTTPError(http.StatusForbidden, "Support staff must keep two-factor authentication on.")
	}
	err := s.twoFactorChange(c, "disable", func(in models.TwoFactorChange) error {
		return models.DisableTOTP(c.Request().Context(), s.DB, u, in, s.Now())
	})
	if err != nil || c.Response().Committed {
		return err
	}
	s.markAuthenticated(c)
	s.flash(c, "Two-factor authentication is off. Workspaces that require it will ask you to set it up again.")
	return s.redirect(c, paths.TwoFactor.URL())
}

// twoFactorRecovery replaces the recovery codes, with the password and a current code.
func (s *Server) twoFactorRecovery(c echo.Context) error {
	u := currentUser(c)
	var codes []string
	err := s.twoFactorChange(c, "recovery", func(in models.TwoFactorChange) (err error) {
		codes, err = models.RegenerateRecoveryCodes(c.Request().Context(), s.DB, u, in, s.Now())
		return err
	})
	if err != nil || c.Response().Committed {
		return err
	}
	s.markAuthenticated(c)
	return s.showRecoveryCodes(c, codes, paths.TwoFactor.URL(), false)
}
