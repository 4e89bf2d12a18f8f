package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// The passkey ceremonies: the browser asks for options (a fresh challenge, kept in the session),
// lets the person use their authenticator, and posts the answer as JSON (static/js/passkeys.js).
// The challenge is taken out of the session when the answer comes, so it answers once, and it
// expires on the session store's clock.

// ceremonyKey is the session key of the ceremony under way; one at a time per session.
const ceremonyKey = "passkey_ceremony"

// maxCeremonyBody caps a ceremony's JSON answer.
const maxCeremonyBody = 64 << 10

// ceremonyAnswer is what the browser posts at the end of a ceremony.
type ceremonyAnswer struct {
	Name       string          `json:"name"`
	Next       string          `json:"next"`
	Credential json.RawMessage `json:"credential"`
}

// passkeysOn says whether the console's address can serve passkeys at all.
func (s *Server) passkeysOn() bool { return s.passkeys != nil }

// startCeremony keeps c in the session and answers the browser's options.
func (s *Server) startCeremony(c echo.Context, options json.RawMessage, cer *models.PasskeyCeremony) error {
	b, err := json.Marshal(cer)
	if err != nil {
		return err
	}
	s.Sessions.Put(c.Request().Context(), ceremonyKey, b)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSONBlob(http.StatusOK, options)
}

// takeCeremony removes the session's ceremony and reads the answer; a session without one reads
// as a nil ceremony, which the models refuse.
func (s *Server) takeCeremony(c echo.Context) (*models.PasskeyCeremony, *ceremonyAnswer, error) {
	raw := s.Sessions.PopBytes(c.Request().Context(), ceremonyKey)
	var cer *models.PasskeyCeremony
	if len(raw) > 0 {
		cer = new(models.PasskeyCeremony)
		if err := json.Unmarshal(raw, cer); err != nil {
			cer = nil
		}
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxCeremonyBody+1))
	if err != nil {
		return nil, nil, err
	}
	var ans ceremonyAnswer
	if len(body) > maxCeremonyBody || json.Unmarshal(body, &ans) != nil || len(ans.Credential) == 0 {
		return cer, nil, nil
	}
	return cer, &ans, nil
}

// ceremonyRefused answers a refused or unreadable ceremony in JSON for the script to show.
func ceremonyRefused(c echo.Context, err error) error {
	var ve *models.ValidationError
	var me *models.Error
	switch {
	case errors.As(err, &ve):
		return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": validationMessage(ve)})
	case errors.Is(err, models.ErrPasskeyRefused) && errors.As(err, &me):
		return c.JSON(http.StatusBadRequest, map[string]string{"error": me.Message})
	case errors.Is(err, models.ErrPasskeyRefused):
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "This passkey was not accepted."})
	}
	return err
}

var errNoAnswer = models.Errorf(models.ErrPasskeyRefused, "The browser's answer could not be read. Try again.")

// passkeyRegisterOptions starts adding a passkey to the signed-in account.
func (s *Server) passkeyRegisterOptions(c echo.Context) error {
	if !s.passkeysOn() {
		return echo.ErrNotFound
	}
	opts, cer, err := s.passkeys.BeginPasskeyRegistration(c.Request().Context(), s.DB, currentUser(c), s.sessionStore.Time())
	if err != nil {
		return err
	}
	return s.startCeremony(c, opts, cer)
}

// passkeyRegister finishes adding a passkey and stores it under the name the person gave.
func (s *Server) passkeyRegister(c echo.Context) error {
	if !s.passkeysOn() {
		return echo.ErrNotFound
	}
	cer, ans, err := s.takeCeremony(c)
	if err != nil {
		return err
	}
	if ans == nil {
		return ceremonyRefused(c, errNoAnswer)
	}
	pk, err := s.passkeys.FinishPasskeyRegistration(c.Request().Context(), s.DB, currentUser(c), cer, ans.Credential, ans.Name, s.sessionStore.Time())
	if err != nil {
		return ceremonyRefused(c, err)
	}
	s.flash(c, "Your passkey “"+pk.Name+"” is added. You can log in with it now.")
	return c.JSON(http.StatusOK, map[string]string{"redirect": paths.Account.URL()})
}

// passkeyRename names one of the person's passkeys.
func (s *Server) passkeyRename(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	err = models.RenamePasskey(c.Request().Context(), s.DB, currentUser(c), id, c.FormValue("name"))
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		s.flashError(c, "The passkey's name: "+ve.Fields["name"])
		return s.redirect(c, paths.Account.URL())
	}
	if err != nil {
		return err
	}
	s.flash(c, "The passkey is renamed.")
	return s.redirect(c, paths.Account.URL())
}

// passkeyRemove deletes one of the person's passkeys.
func (s *Server) passkeyRemove(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	if !confirmed(c) {
		if _, err := s.ownPasskey(c, id); err != nil {
			return err
		}
		return s.askFirst(c)
	}
	pk, err := models.RemovePasskey(c.Request().Context(), s.DB, currentUser(c), id, s.Now())
	if err != nil {
		return err
	}
	s.flash(c, "The passkey “"+pk.Name+"” is removed. It no longer logs you in.")
	return s.redirect(c, paths.Account.URL())
}

// passkeyLoginOptions starts a log-in with a passkey: no email, the browser offers the passkeys
// it holds for this site.
func (s *Server) passkeyLoginOptions(c echo.Context) error {
	if !s.passkeysOn() {
		return echo.ErrNotFound
	}
	opts, cer, err := s.passkeys.BeginPasskeyLogin(s.sessionStore.Time())
	if err != nil {
		return err
	}
	return s.startCeremony(c, opts, cer)
}

// passkeyLogin finishes a log-in with a passkey and starts the session. A passkey proves both
// possession and the person (user verification), so it asks for no further factor.
func (s *Server) passkeyLogin(c echo.Context) error {
	if !s.passkeysOn() {
		return echo.ErrNotFound
	}
	cer, ans, err := s.takeCeremony(c)
	if err != nil {
		return err
	}
	if ans == nil {
		return ceremonyRefused(c, errNoAnswer)
	}
	u, _, err := s.passkeys.FinishPasskeyLogin(c.Request().Context(), s.DB, cer, ans.Credential, s.sessionStore.Time())
	if err != nil {
		return ceremonyRefused(c, err)
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	s.markPasskeyConfirmed(c)
	return c.JSON(http.StatusOK, map[string]string{"redirect": safeNext(ans.Next, "/")})
}

// A passkey as the second factor. After the right password, a person with passkeys may finish
// the log-in with one of them instead of an authenticator code; the ceremony names the pending
// log-in's user and accepts only that user's passkeys. Both steps count against the second step's
// throttle like a code: a refused answer is a failure, a locked user or IP is refused before any
// ceremony starts.

// passkeySecondFactorUser is the pending log-in's user for a passkey step, or an answer already
// written (no pending log-in, a throttle) when it returns nil.
func (s *Server) passkeySecondFactorUser(c echo.Context) (*models.User, error) {
	if !s.passkeysOn() {
		return nil, echo.ErrNotFound
	}
	uid := s.pendingLogin(c)
	if uid == uuid.Nil {
		return nil, c.JSON(http.StatusBadRequest, map[string]string{"error": "That log-in waited too long. Log in again.", "redirect": paths.Login.URL()})
	}
	if wait, err := s.secondFactorLocked(c, uid); err != nil || wait != "" {
		if err != nil {
			return nil, err
		}
		return nil, c.JSON(http.StatusTooManyRequests, map[string]string{"error": wait})
	}
	u, err := models.UserByID(c.Request().Context(), s.DB, uid)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if err != nil || u.DisabledAt != nil {
		s.clearPending(c)
		return nil, c.JSON(http.StatusBadRequest, map[string]string{"error": "Log in again.", "redirect": paths.Login.URL()})
	}
	return u, nil
}

// passkeySecondFactorOptions starts the passkey ceremony of a pending log-in.
func (s *Server) passkeySecondFactorOptions(c echo.Context) error {
	u, err := s.passkeySecondFactorUser(c)
	if u == nil {
		return err
	}
	opts, cer, err := s.passkeys.BeginPasskeySecondFactor(c.Request().Context(), s.DB, u, s.sessionStore.Time())
	if errors.Is(err, models.ErrNotFound) {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "You have no passkey. Enter a code instead."})
	}
	if err != nil {
		return err
	}
	return s.startCeremony(c, opts, cer)
}

// passkeySecondFactor finishes a pending log-in with one of its user's passkeys.
func (s *Server) passkeySecondFactor(c echo.Context) error {
	u, err := s.passkeySecondFactorUser(c)
	if u == nil {
		return err
	}
	if ok, err := s.checkPasskeyAnswer(c, u); !ok {
		return err
	}
	next, err := s.signInPending(c, u)
	if err != nil {
		return err
	}
	s.markPasskeyConfirmed(c)
	return c.JSON(http.StatusOK, map[string]string{"redirect": next})
}

// checkPasskeyAnswer checks the ceremony's answer against u's passkeys. A refusal counts against
// the second-factor throttle and is answered here (false, nil); a success clears the person's
// failures (true, nil).
func (s *Server) checkPasskeyAnswer(c echo.Context, u *models.User) (bool, error) {
	ctx := c.Request().Context()
	cer, ans, err := s.takeCeremony(c)
	if err != nil {
		return false, err
	}
	if ans == nil {
		err = errNoAnswer
	} else {
		_, err = s.passkeys.FinishPasskeySecondFactor(ctx, s.DB, u, cer, ans.Credential, s.sessionStore.Time())
	}
	if err != nil {
		if errors.Is(err, models.ErrPasskeyRefused) {
			if err := models.RecordSecondFactorFailure(ctx, s.DB, u.ID, c.RealIP(), s.Now()); err != nil {
				return false, err
			}
		}
		return false, ceremonyRefused(c, err)
	}
	if err := models.ClearSecondFactorFailures(ctx, s.DB, u.ID); err != nil {
		return false, err
	}
	return true, nil
}

// passkeyStepUpOptions starts a passkey ceremony that confirms the signed-in person (step-up).
func (s *Server) passkeyStepUpOptions(c echo.Context) error {
	if !s.passkeysOn() {
		return echo.ErrNotFound
	}
	u := currentUser(c)
	if wait, err := s.secondFactorLocked(c, u.ID); err != nil || wait != "" {
		if err != nil {
			return err
		}
		return c.JSON(http.StatusTooManyRequests, map[string]string{"error": wait})
	}
	opts, cer, err := s.passkeys.BeginPasskeySecondFactor(c.Request().Context(), s.DB, u, s.sessionStore.Time())
	if errors.Is(err, models.ErrNotFound) {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "You have no passkey. Enter your password instead."})
	}
	if err != nil {
		return err
	}
	return s.startCeremony(c, opts, cer)
}

// passkeyStepUp finishes that ceremony: the session counts as recently authenticated (and recently
// confirmed with a passkey), and the script posts the step-up form (the action itself) again.
func (s *Server) passkeyStepUp(c echo.Context) error {
	if !s.passkeysOn() {
		return echo.ErrNotFound
	}
	u := currentUser(c)
	if wait, err := s.secondFactorLocked(c, u.ID); err != nil || wait != "" {
		if err != nil {
			return err
		}
		return c.JSON(http.StatusTooManyRequests, map[string]string{"error": wait})
	}
	if ok, err := s.checkPasskeyAnswer(c, u); !ok {
		return err
	}
	s.markPasskeyConfirmed(c)
	return c.JSON(http.StatusOK, map[string]bool{"confirmed": true})
}

// ownPasskey is the signed-in person's passkey id; another's, or none, is not found.
func (s *Server) ownPasskey(c echo.Context, id uuid.UUID) (*models.Passkey, error) {
	keys, err := models.ListPasskeys(c.Request().Context(), s.DB, currentUser(c).ID)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i], nil
		}
	}
	return nil, echo.ErrNotFound
}

// passkeyRemoveConfirm asks before a passkey is removed: in the account page's dialog, or as a
// page of its own without JavaScript.
func (s *Server) passkeyRemoveConfirm(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	pk, err := s.ownPasskey(c, id)
	if err != nil {
		return err
	}
	return s.confirmPanel(c, views.ConfirmPage{Frame: s.frame(c, "Remove passkey", ""), Heading: "Remove the passkey “" + pk.Name + "”?",
		Message: "It will no longer log you in. Your password and your other passkeys keep working.",
		Action:  c.Request().URL.Path, Button: "Remove passkey", Cancel: paths.Account.URL()})
}
