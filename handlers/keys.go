package handlers

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
	"atrium/views/components"
)

// keysView renders the keys page, or its panel for htmx, with the form's state and, once, a key
// just made. The whole key lives only in this response: it is never put in the session, a flash
// or a log line, which is why creating a key answers a page instead of redirecting.
func (s *Server) keysView(c echo.Context, status int, vm views.KeysPage) error {
	m := membership(c)
	vm.Frame = s.frame(c, "API keys", "keys")
	vm.Slug = m.Slug
	f := models.KeyFilter{Status: models.KeyActive}
	if c.Request().Method == http.MethodGet {
		f.Query = strings.TrimSpace(c.QueryParam("q"))
		if len(f.Query) > 100 {
			f.Query = f.Query[:100]
		}
		f.Status = models.ParseKeyStatus(c.QueryParam("status"))
		f.Page, _ = strconv.Atoi(c.QueryParam("page"))
	}
	vm.Query, vm.Status = f.Query, string(f.Status)
	now := s.Now()
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		list, err := models.ListKeys(ctx, tn, actor(c), f, now)
		if err != nil {
			return err
		}
		vm.All = list.All
		for _, st := range models.KeyStatuses {
			vm.Tabs = append(vm.Tabs, views.KeyTab{Value: string(st), Label: keyStatusLabels[st], Count: list.Counts[st],
				Current: st == f.Status})
			vm.Any += list.Counts[st]
		}
		vm.Pager = components.Pager{Page: list.Page, Pages: list.Pages, Total: list.Total, PerPage: models.KeyPageSize,
			Base: paths.Keys.URL(m.Slug), Query: url.Values{"q": {f.Query}, "status": {vm.StatusParam()}},
			Label: "Key pages", Noun: "keys", TestID: "keys"}
		for i := range list.Keys {
			vm.Keys = append(vm.Keys, keyRow(&list.Keys[i], now))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.render(c, status, views.KeysView(vm), views.KeysPanel(vm))
}

// keyStatusLabels name the key list's status tabs.
var keyStatusLabels = map[models.KeyStatus]string{models.KeyActive: "Active", models.KeyRevoked: "Revoked", models.KeyExpired: "Expired"}

// keyRow formats one key for the list.
func keyRow(k *models.APIKey, now time.Time) views.KeyRow {
	r := views.KeyRow{ID: k.ID.String(), Prefix: k.Prefix, Name: k.Name, Scope: string(k.Scope), ScopeLabel: k.Scope.Label(),
		Creator: k.CreatorName, Created: k.CreatedAt, LastUsed: k.LastUsedAt, Expires: k.ExpiresAt,
		Status: string(k.Status(now)), Calls24h: models.FormatCount(k.Calls24h), Allowlist: len(k.AllowedIPs)}
	if k.RateLimitPerHour != nil {
		r.Limit = models.FormatCount(*k.RateLimitPerHour)
	}
	if r.Creator == "" {
		r.Creator = "A former user"
	}
	switch k.Status(now) {
	case models.KeyActive:
		r.StatusLabel, r.Active = "Active", true
	case models.KeyExpired:
		r.StatusLabel = "Expired"
	case models.KeyRevoked:
		r.StatusLabel = "Revoked"
	}
	if until := k.PreviousWorksUntil(now); !until.IsZero() {
		r.PreviousUntil = &until
	}
	return r
}

// keysIndex lists the keys the member may see. After a create or a roll without JavaScript it
// shows, once, the key the redirect brought here (see takeSecret).
func (s *Server) keysIndex(c echo.Context) error {
	var vm views.KeysPage
	var created views.CreatedKey
	if s.takeSecret(c, "key", &created) {
		c.Response().Header().Set("Cache-Control", "no-store")
		vm.Created = &created
	}
	if c.QueryParam("new") == "1" {
		vm.Form.WorkspaceLimit = workspaceLimit(c)
		if isHTMX(c) {
			return s.newKeyPanel(c, http.StatusOK, vm.Form)
		}
		vm.ShowForm = true
		// A form refused without JavaScript comes back here after its redirect, with its values.
		var back formBack
		if s.takeForm(c, "key", &back) {
			v := back.Values
			vm.Form = views.NewKeyForm{Name: v["name"], Scope: v["scope"], ExpiresInDays: v["expires_in_days"],
				KeyControlsForm: views.KeyControlsForm{Description: v["description"], RateLimitPerHour: v["rate_limit_per_hour"],
					AllowedIPs: v["allowed_ips"], WorkspaceLimit: vm.Form.WorkspaceLimit}, Errors: back.Errors}
		}
	}
	return s.keysView(c, http.StatusOK, vm)
}

// workspaceLimit says the workspace's hourly API calls, for the key limit's help text.
func workspaceLimit(c echo.Context) string {
	return membership(c).Tier.Limits().APICallsPerHour.String()
}

// keyControlsForm reads the per-key controls of a create or edit form.
func keyControlsForm(c echo.Context) views.KeyControlsForm {
	return views.KeyControlsForm{Description: c.FormValue("description"), RateLimitPerHour: c.FormValue("rate_limit_per_hour"),
		AllowedIPs: c.FormValue("allowed_ips"), WorkspaceLimit: workspaceLimit(c)}
}

// controls are the form's controls for the model.
func controls(f views.KeyControlsForm) models.KeyControls {
	return models.KeyControls{Description: f.Description, RateLimitPerHour: f.RateLimitPerHour, AllowedIPs: f.AllowedIPs}
}

// keyCreate makes a key. htmx gets the panel that shows it this once; a browser without
// JavaScript is redirected to the list, which shows it once.
func (s *Server) keyCreate(c echo.Context) error {
	if err := s.requireVerified(c); err != nil || c.Response().Committed {
		return err
	}
	form := views.NewKeyForm{Name: c.FormValue("name"), Scope: c.FormValue("scope"), ExpiresInDays: c.FormValue("expires_in_days"),
		KeyControlsForm: keyControlsForm(c)}
	if sc, ok := models.ParseKeyScope(form.Scope); ok && (sc == models.ScopeReadWrite || sc == models.ScopeAuditRead) {
		m := membership(c)
		what := "Create a read-and-write API key"
		if sc == models.ScopeAuditRead {
			what = "Create an audit-log API key"
		}
		if answered, err := s.stepUp(c, what, paths.Keys.URL(m.Slug)); answered {
			return err
		}
	}
	var created *views.CreatedKey
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		k, token, err := models.CreateKey(ctx, tn, actor(c),
			models.NewKey{Name: form.Name, Scope: form.Scope, ExpiresInDays: form.ExpiresInDays, KeyControls: controls(form.KeyControlsForm)}, s.Now())
		if err != nil {
			return err
		}
		created = &views.CreatedKey{Name: k.Name, Prefix: k.Prefix, Token: token}
		return nil
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		form.Errors = ve.Fields
		if isHTMX(c) {
			return s.newKeyPanel(c, http.StatusUnprocessableEntity, form)
		}
		// Without JavaScript: POST, redirect, GET, the form back with its values and errors (no
		// #fragment, which would keep the browser from focusing the first invalid field).
		return s.refuseForm(c, "key", paths.Keys.URL(membership(c).Slug)+"?new=1", formBack{Values: map[string]string{
			"name": form.Name, "scope": form.Scope, "expires_in_days": form.ExpiresInDays, "description": form.Description,
			"rate_limit_per_hour": form.RateLimitPerHour, "allowed_ips": form.AllowedIPs}, Errors: ve.Fields})
	}
	if err != nil {
		return err
	}
	return s.showKey(c, created)
}

// newKeyPanel answers the create form alone, for the page's dialog.
func (s *Server) newKeyPanel(c echo.Context, status int, form views.NewKeyForm) error {
	vm := views.KeysPage{Frame: s.frame(c, "New key", "keys"), Slug: membership(c).Slug, Form: form, InDialog: true}
	return s.render(c, status, views.NewKeyPanel(vm), nil)
}

// showKey answers a key just made or rolled: to htmx the keys panel with it (no-store), to a
// browser a redirect to the list, which shows it once.
func (s *Server) showKey(c echo.Context, k *views.CreatedKey) error {
	if !isHTMX(c) {
		if err := s.stashSecret(c, "key", k); err != nil {
			return err
		}
		return s.redirect(c, paths.Keys.URL(membership(c).Slug))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("HX-Retarget", "#keys-panel")
	c.Response().Header().Set("HX-Reswap", "outerHTML")
	return s.keysView(c, http.StatusOK, views.KeysPage{Created: k})
}

// keyParam reads the key id of the URL; one that is not a uuid names no key.
func keyParam(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, models.Errorf(models.ErrNotFound, "API key not found")
	}
	return id, nil
}

// managedKey reads the key of the URL, if the signed-in member may manage it.
func (s *Server) managedKey(c echo.Context) (*models.APIKey, error) {
	id, err := keyParam(c)
	if err != nil {
		return nil, err
	}
	var k *models.APIKey
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		k, err = models.ManagedKey(ctx, tn, actor(c), id)
		return err
	})
	return k, err
}

// keyRevokeConfirm asks before revoking a key: in the keys page's dialog, or as a page.
func (s *Server) keyRevokeConfirm(c echo.Context) error {
	k, err := s.managedKey(c)
	if err != nil {
		return err
	}
	return s.confirmPanel(c, views.ConfirmPage{Frame: s.frame(c, "Revoke key", "keys"), Heading: "Revoke key " + k.Name + "?",
		Message: "Programs using " + k.Prefix + "_… get 401 at once. This cannot be undone.",
		Action:  c.Request().URL.Path, Button: "Revoke key", Cancel: paths.Keys.URL(membership(c).Slug)})
}

// keyRevoke stops a key at once, once confirmed.
func (s *Server) keyRevoke(c echo.Context) error {
	id, err := keyParam(c)
	if err != nil {
		return err
	}
	if !confirmed(c) {
		return s.askFirst(c)
	}
	var k *models.APIKey
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		k, err = models.RevokeKey(ctx, tn, actor(c), id, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	s.flash(c, "Key "+k.Name+" ("+k.Prefix+") is revoked. Programs using it now get 401.")
	return s.redirect(c, paths.Keys.URL(membership(c).Slug))
}

// keyRollDialog offers a key's roll with the choice of the old secret's grace.
func (s *Server) keyRollDialog(c echo.Context) error {
	k, err := s.managedKey(c)
	if err != nil {
		return err
	}
	if st := k.Status(s.Now()); st != models.KeyActive {
		return models.Errorf(models.ErrConflict, "Key %s is %s; create a new key instead.", k.Prefix, st)
	}
	vm := views.RollPage{Frame: s.frame(c, "Roll key", "keys"), InDialog: isHTMX(c), Name: k.Name, Prefix: k.Prefix,
		Version: k.Version(), Action: c.Request().URL.Path, Cancel: paths.Keys.URL(membership(c).Slug)}
	return s.render(c, http.StatusOK, views.RollView(vm), views.RollPanel(vm))
}

// keyRoll gives a key a new secret, shown once; the old one keeps working for the chosen grace.
// The form names the secret it replaces, so the same form sent again is refused instead of
// ending that secret's grace. Without JavaScript it ends in a redirect, as creation does.
func (s *Server) keyRoll(c echo.Context) error {
	id, err := keyParam(c)
	if err != nil {
		return err
	}
	hours, err := strconv.Atoi(c.FormValue("grace_hours"))
	if err != nil {
		hours = -1
	}
	now := s.Now()
	var created *views.CreatedKey
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		k, token, err := models.RollKeyAsSeen(ctx, tn, actor(c), id, time.Duration(hours)*time.Hour, c.FormValue("version"), now)
		if err != nil {
			return err
		}
		created = &views.CreatedKey{Name: k.Name, Prefix: k.Prefix, Token: token, Rolled: true}
		if until := k.PreviousWorksUntil(now); !until.IsZero() {
			created.PreviousUntil = &until
		}
		return nil
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) || errors.Is(err, models.ErrConflict) {
		status, msg := http.StatusUnprocessableEntity, "Choose how long the old secret keeps working."
		if ve == nil {
			status, _, msg = classify(err)
		}
		if isHTMX(c) {
			return echo.NewHTTPError(status, msg) // the dialog shows it
		}
		s.flashError(c, msg)
		return s.redirect(c, paths.Keys.URL(membership(c).Slug))
	}
	if err != nil {
		return err
	}
	return s.showKey(c, created)
}

// A secret shown once after a redirect (an API key, an invitation link) must not be readable
// from the database meanwhile: the session, which lives there, keeps it sealed with AES-GCM
// under a fresh key that only the browser holds, in a short-lived cookie. Neither alone gives
// the secret, and reading it drops both, so a reload does not show it again.
const revealCookie = "atrium_reveal"

// stashSecret keeps v (JSON) for the next page of this workspace (of the account, outside one),
// under kind.
func (s *Server) stashSecret(c echo.Context, kind string, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	aead, err := sealer(key)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(kind))
	s.Sessions.Put(c.Request().Context(), "reveal_"+kind, base64.RawURLEncoding.EncodeToString(sealed))
	c.SetCookie(&http.Cookie{Name: revealCookie, Value: base64.RawURLEncoding.EncodeToString(key),
		Path: revealPath(c), MaxAge: 300, HttpOnly: true, Secure: s.Cfg.Production,
		SameSite: http.SameSiteStrictMode})
	return nil
}

// takeSecret reads into v, once, what stashSecret kept under kind; false when there is none.
func (s *Server) takeSecret(c echo.Context, kind string, v any) bool {
	ctx := c.Request().Context()
	if !s.Sessions.Exists(ctx, "reveal_"+kind) {
		return false
	}
	sealed, _ := base64.RawURLEncoding.DecodeString(s.Sessions.PopString(ctx, "reveal_"+kind))
	c.SetCookie(&http.Cookie{Name: revealCookie, Path: revealPath(c), MaxAge: -1, HttpOnly: true,
		Secure: s.Cfg.Production, SameSite: http.SameSiteStrictMode})
	ck, err := c.Cookie(revealCookie)
	if err != nil {
		return false
	}
	key, _ := base64.RawURLEncoding.DecodeString(ck.Value)
	aead, err := sealer(key)
	if err != nil || len(sealed) < aead.NonceSize() {
		return false
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(kind))
	return err == nil && json.Unmarshal(plain, v) == nil
}

// revealPath is where the browser sends the reveal cookie: the request's workspace, or the
// account's pages outside one.
func revealPath(c echo.Context) string {
	if m := membership(c); m != nil {
		return paths.Workspace.URL(m.Slug)
	}
	return paths.Account.URL()
}

func sealer(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// keyShow is a key's page: its calls and refusals per hour over the last hours, when and from where
// it was last used, and its controls. A refused edit comes back here after its redirect.
func (s *Server) keyShow(c echo.Context) error {
	id, err := keyParam(c)
	if err != nil {
		return err
	}
	now := s.Now()
	var u *models.KeyUsage
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		u, err = models.ReadKeyUsage(ctx, tn, actor(c), id, now)
		return err
	})
	if err != nil {
		return err
	}
	k := u.Key
	m := membership(c)
	vm := views.KeyPage{Frame: s.frame(c, k.Name+" · API keys", "keys"), Slug: m.Slug, Key: keyRow(k, now),
		Description: k.Description, LastUsedIP: k.LastUsedIP, AllowedIPs: k.AllowedIPs, Hours: models.KeyUsageHours,
		TotalCalls: models.FormatCount(u.Calls), IPRefused: models.FormatCount(u.IPRefused),
		KeyLimited: models.FormatCount(u.KeyLimited), WSLimited: models.FormatCount(u.WSLimited), CanEdit: k.RevokedAt == nil}
	vm.Form = views.KeyControlsForm{Description: k.Description, AllowedIPs: strings.Join(k.AllowedIPs, "\n"), WorkspaceLimit: workspaceLimit(c)}
	if k.RateLimitPerHour != nil {
		vm.Form.RateLimitPerHour = strconv.FormatInt(*k.RateLimitPerHour, 10)
	}
	var back formBack
	if s.takeForm(c, "key-controls:"+k.ID.String(), &back) {
		vm.Form.Description, vm.Form.RateLimitPerHour, vm.Form.AllowedIPs = back.Values["description"], back.Values["rate_limit_per_hour"], back.Values["allowed_ips"]
		vm.Errors = back.Errors
	}
	vm.Calls, vm.Refusals = keyCharts(u)
	return s.render(c, http.StatusOK, views.KeyView(vm), nil)
}

// keyCharts draws a key's calls and refusals per hour.
func keyCharts(u *models.KeyUsage) (calls, refusals components.Chart) {
	var cp, rp []components.ChartPoint
	for i, h := range u.Hours {
		tick := ""
		if (len(u.Hours)-1-i)%12 == 0 {
			tick = h.Hour.Format("Jan 2 15:04")
		}
		label := h.Hour.Format("January 2, 15:04 UTC")
		cp = append(cp, components.ChartPoint{Value: h.Calls, Tick: tick, Label: label + ": " + models.FormatCount(h.Calls) + " calls"})
		r := h.IPRefused + h.KeyLimited + h.WSLimited
		rp = append(rp, components.ChartPoint{Value: r, Tick: tick, Label: label + ": " + models.FormatCount(r) + " refused"})
	}
	hours := len(u.Hours)
	calls = components.NewChart("chart-key-calls", "Calls per hour",
		fmt.Sprintf("The key's API calls per UTC hour over the last %d hours: %s in all.", hours, models.FormatCount(u.Calls)),
		components.ChartBars, cp, models.FormatCount)
	refusals = components.NewChart("chart-key-refusals", "Refused calls per hour",
		fmt.Sprintf("The key's refused calls per UTC hour over the last %d hours: %s from addresses not allowed, %s past the key's limit, %s past the workspace's.",
			hours, models.FormatCount(u.IPRefused), models.FormatCount(u.KeyLimited), models.FormatCount(u.WSLimited)),
		components.ChartBars, rp, models.FormatCount)
	head := []string{"Hour (UTC)", "Calls", "Not allowed", "Key limit", "Workspace limit"}
	calls.TableHead, refusals.TableHead = head, head
	for _, h := range u.Hours {
		row := []string{h.Hour.Format("Jan 2 15:04"), models.FormatCount(h.Calls), models.FormatCount(h.IPRefused),
			models.FormatCount(h.KeyLimited), models.FormatCount(h.WSLimited)}
		calls.TableRows = append(calls.TableRows, row)
	}
	refusals.TableRows = calls.TableRows
	return calls, refusals
}

// keyUpdate saves a key's controls, then goes back to its page (POST, redirect, GET; a refused form
// comes back with its values and errors).
func (s *Server) keyUpdate(c echo.Context) error {
	id, err := keyParam(c)
	if err != nil {
		return err
	}
	form := keyControlsForm(c)
	var k *models.APIKey
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		k, err = models.UpdateKeyControls(ctx, tn, actor(c), id, controls(form), s.Now())
		return err
	})
	page := paths.Key.URL(membership(c).Slug, id.String())
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		s.flashError(c, "The controls were not saved: see the fields below.")
		return s.refuseForm(c, "key-controls:"+id.String(), page, formBack{Values: map[string]string{"description": form.Description,
			"rate_limit_per_hour": form.RateLimitPerHour, "allowed_ips": form.AllowedIPs}, Errors: ve.Fields})
	}
	if err != nil {
		return err
	}
	s.Keys.Forget(k.WorkspaceID)
	s.flash(c, "Saved the controls of "+k.Name+". Every server applies them at once.")
	return s.redirect(c, page)
}
