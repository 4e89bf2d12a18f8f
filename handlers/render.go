package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/views/components"
	"atrium/views/layouts"
)

// isHTMX reports whether htmx asked for a fragment (a boosted request wants the whole page).
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true"
}

// render writes page for a browser and fragment for htmx (fragment may be nil: then the page).
func (s *Server) render(c echo.Context, status int, page, fragment templ.Component) error {
	c.Response().Header().Add("Vary", "HX-Request")
	comp := page
	if fragment != nil && isHTMX(c) {
		comp = fragment
	}
	// The page is rendered into a buffer and sent in one write: a page of fifty members is tens of
	// kilobytes, which written through the connection's 4 KiB buffer costs a system call per 4 KiB;
	// and a template that fails halfway leaves no half page behind, the error page answers instead.
	buf := pageBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledPage {
			pageBuffers.Put(buf)
		}
	}()
	// Times on the page are said relative to the server's clock, never the machine's.
	if err := comp.Render(components.WithNow(c.Request().Context(), s.Now()), buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// pageBuffers holds the buffers pages are rendered into; one larger than maxPooledPage (a page
// far past the usual size) is left to the collector rather than kept.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledPage = 1 << 20

// redirect sends htmx an HX-Redirect and a browser a 303.
func (s *Server) redirect(c echo.Context, to string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// flash stores a one-time message for the next page.
func (s *Server) flash(c echo.Context, msg string) {
	s.Sessions.Put(c.Request().Context(), "flash", msg)
}

// flashError stores a one-time error message for the next page.
func (s *Server) flashError(c echo.Context, msg string) {
	s.Sessions.Put(c.Request().Context(), "flash", msg)
	s.Sessions.Put(c.Request().Context(), "flash_kind", "error")
}

// frame builds the layout's view of the request. An htmx fragment is swapped into a page that has
// its frame already, so for one the frame is only what a fragment may show (the CSRF token, who is
// signed in, the workspace): no switcher query, and the flash message stays for the next page.
func (s *Server) frame(c echo.Context, title, nav string) layouts.Frame {
	ctx := c.Request().Context()
	f := layouts.Frame{Title: title, Nav: nav}
	if !s.sessionLoaded(ctx) {
		return f // bare routes (static files, unknown paths) have no session
	}
	f.CSRF = s.csrfToken(ctx)
	fragment := isHTMX(c)
	if !fragment && s.Sessions.Exists(ctx, "flash") {
		f.Flash = s.Sessions.PopString(ctx, "flash")
		f.FlashKind = s.Sessions.PopString(ctx, "flash_kind")
	}
	u := currentUser(c)
	if u == nil {
		return f
	}
	f.User = &layouts.UserInfo{Name: u.DisplayName(), Email: u.Email, IsSupport: u.IsSupport()}
	m := membership(c)
	if m != nil {
		f.Workspace = &layouts.WorkspaceInfo{Name: m.Name, Slug: m.Slug, Tier: m.Tier.Label(), Role: m.Role.Label()}
	}
	if fragment {
		return f
	}
	if m != nil {
		f.Workspace.Nav = s.navFor(m.Role, m.Slug)
	}
	list, err := s.userWorkspaces(c, u)
	if err != nil {
		s.Log.Warn("switcher", logAttr(err))
	}
	for _, w := range list {
		f.Switcher = append(f.Switcher, layouts.WorkspaceLink{Name: w.Name, Slug: w.Slug, Role: w.Role.Label(),
			Current: m != nil && m.ID == w.ID})
	}
	return f
}

// userWorkspaces lists u's workspaces: the list read with the user at the start of the request
// when there is one, else read now.
func (s *Server) userWorkspaces(c echo.Context, u *models.User) ([]models.Membership, error) {
	if f, ok := c.Get(ctxFrame).(*models.RequestFrame); ok && f.Workspaces != nil {
		return f.Workspaces, nil
	}
	return models.UserWorkspaces(c.Request().Context(), s.DB, u.ID)
}

// inWorkspace runs fn in the request's workspace transaction.
func (s *Server) inWorkspace(c echo.Context, fn func(ctx context.Context, tn *models.Tenant) error) error {
	m := membership(c)
	if m == nil {
		return models.ErrNoWorkspace
	}
	return models.InWorkspace(c.Request().Context(), s.DB, m.ID, fn)
}

// readPage runs fn as a page read of the request's workspace (models.ReadPage): each of its
// statements goes out with the workspace's binding in one round trip, without a transaction. For
// pages whose read is one statement of the model functions that allow it.
func (s *Server) readPage(c echo.Context, db *bun.DB, fn func(ctx context.Context, tn *models.Tenant) error) error {
	m := membership(c)
	if m == nil {
		return models.ErrNoWorkspace
	}
	return models.ReadPage(c.Request().Context(), db, m.ID, fn)
}

// safeNext returns next when it is a local path, else fallback: never //host, /\host or a scheme.
func safeNext(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\t") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return fallback
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func parseUUID(s string) (uuid.UUID, error) { return uuid.Parse(s) }

func isNotFound(err error) bool { return errors.Is(err, models.ErrNotFound) }

// sessionLoaded reports whether the session middleware ran for this request.
func (s *Server) sessionLoaded(ctx context.Context) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	s.Sessions.Status(ctx)
	return true
}

// formBack is a refused form carried across its redirect (POST, redirect, GET): what was entered,
// never a password, and each field's error. The page the redirect leads to shows it once.
//
// Every form a browser posts without JavaScript that the server refuses takes this way (see
// refuseForm): the answer to the POST is a 303 to the page the form is on, never a page, so a
// reload there does not ask to send the form again, and the address bar shows the page, not the
// action. Each field's message sits next to it and the first field with one has the focus
// (autofocus, so without JavaScript too; the redirect carries no #fragment, since a browser skips
// autofocus on a page opened at one). A form htmx posts gets its fragment back with 422 instead,
// swapped in place.
type formBack struct {
	Values map[string]string `json:"values"`
	Errors map[string]string `json:"errors"`
	// List is a refusal with several lines (what to reduce before a downgrade).
	List []string `json:"list,omitempty"`
	// Message is a refusal of the whole form rather than of one field (a wrong password at log-in,
	// too many tries), shown above it.
	Message string `json:"message,omitempty"`
}

// refuseForm answers a refused form: kept in the session as name (putForm), then a 303 (an
// HX-Redirect for htmx) to back, the page the form is on, whose handler shows it (takeForm).
func (s *Server) refuseForm(c echo.Context, name, back string, f formBack) error {
	s.putForm(c, name, f)
	return s.redirect(c, back)
}

// putForm keeps a refused form named name in the session for the next page.
func (s *Server) putForm(c echo.Context, name string, f formBack) {
	b, _ := json.Marshal(f)
	s.Sessions.Put(c.Request().Context(), "form:"+name, string(b))
}

// takeForm reads and forgets the refused form named name; false when there is none.
func (s *Server) takeForm(c echo.Context, name string, into *formBack) bool {
	raw := s.Sessions.PopString(c.Request().Context(), "form:"+name)
	if raw == "" {
		return false
	}
	return json.Unmarshal([]byte(raw), into) == nil
}
