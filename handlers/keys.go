package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// keysView renders the keys page, or its panel for htmx, with the form's state and, once, a key
// just made. The whole key lives only in this response: it is never put in the session, a flash
// or a log line, which is why creating a key answers a page instead of redirecting.
func (s *Server) keysView(c echo.Context, status int, vm views.KeysPage) error {
	m := membership(c)
	vm.Frame = s.frame(c, "API keys", "keys")
	vm.Slug = m.Slug
	cursor := ""
	if c.Request().Method == http.MethodGet {
		cursor = c.QueryParam("cursor")
	}
	vm.First = cursor == ""
	now := s.Now()
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		list, err := models.ListKeys(ctx, tn, actor(c), cursor)
		if err != nil {
			return err
		}
		vm.All, vm.Next = list.All, list.Next
		for i := range list.Keys {
			vm.Keys = append(vm.Keys, keyRow(&list.Keys[i], now))
		}
		return nil
	})
	var pe *models.PageError
	if errors.As(err, &pe) {
		return echo.NewHTTPError(http.StatusBadRequest, "That page of keys does not exist; start from the first page.")
	}
	if err != nil {
		return err
	}
	return s.render(c, status, views.KeysView(vm), views.KeysPanel(vm))
}

// keyRow formats one key for the list.
func keyRow(k *models.APIKey, now time.Time) views.KeyRow {
	r := views.KeyRow{ID: k.ID.String(), Prefix: k.Prefix, Name: k.Name, Scope: string(k.Scope), ScopeLabel: k.Scope.Label(),
		Creator: k.CreatorName, Created: k.CreatedAt, LastUsed: k.LastUsedAt, Expires: k.ExpiresAt,
		Status: string(k.Status(now))}
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

// keysIndex lists the keys the member may see, with the create form.
func (s *Server) keysIndex(c echo.Context) error {
	return s.keysView(c, http.StatusOK, views.KeysPage{})
}

// keyCreate makes a key and answers the page that shows it, this once.
func (s *Server) keyCreate(c echo.Context) error {
	form := views.NewKeyForm{Name: c.FormValue("name"), Scope: c.FormValue("scope"), ExpiresInDays: c.FormValue("expires_in_days")}
	var created *views.CreatedKey
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		k, token, err := models.CreateKey(ctx, tn, actor(c),
			models.NewKey{Name: form.Name, Scope: form.Scope, ExpiresInDays: form.ExpiresInDays}, s.Now())
		if err != nil {
			return err
		}
		created = &views.CreatedKey{Name: k.Name, Prefix: k.Prefix, Token: token}
		return nil
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		form.Errors = ve.Fields
		return s.keysView(c, http.StatusUnprocessableEntity, views.KeysPage{Form: form})
	}
	if err != nil {
		return err
	}
	return s.keysView(c, http.StatusOK, views.KeysPage{Created: created})
}

// keyParam reads the key id of the URL; one that is not a uuid names no key.
func keyParam(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, models.Errorf(models.ErrNotFound, "API key not found")
	}
	return id, nil
}

// keyRevoke stops a key at once, after a confirmation (JavaScript's, or a page of its own).
func (s *Server) keyRevoke(c echo.Context) error {
	id, err := keyParam(c)
	if err != nil {
		return err
	}
	m := membership(c)
	var k *models.APIKey
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		if !confirmed(c) {
			k, err = models.ManagedKey(ctx, tn, actor(c), id)
			return err
		}
		k, err = models.RevokeKey(ctx, tn, actor(c), id, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	if !confirmed(c) {
		vm := views.ConfirmPage{Frame: s.frame(c, "Revoke key", "keys"), Heading: "Revoke key " + k.Name + "?",
			Message: "Programs using " + k.Prefix + "_… get 401 at once. This cannot be undone.",
			Action:  c.Request().URL.Path, Button: "Revoke key", Cancel: paths.Keys.URL(m.Slug)}
		return s.render(c, http.StatusOK, views.ConfirmView(vm), nil)
	}
	s.flash(c, "Key "+k.Name+" ("+k.Prefix+") is revoked. Programs using it now get 401.")
	return s.redirect(c, paths.Keys.URL(m.Slug))
}

// keyRoll gives a key a new secret, shown once; the old one keeps working for the chosen grace.
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
		k, token, err := models.RollKey(ctx, tn, actor(c), id, time.Duration(hours)*time.Hour, now)
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
	if errors.As(err, &ve) {
		return s.keysView(c, http.StatusUnprocessableEntity, views.KeysPage{Error: "Choose how long the old secret keeps working."})
	}
	if errors.Is(err, models.ErrConflict) {
		_, _, msg := classify(err)
		return s.keysView(c, http.StatusConflict, views.KeysPage{Error: msg})
	}
	if err != nil {
		return err
	}
	return s.keysView(c, http.StatusOK, views.KeysPage{Created: created})
}
