package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
)

// Keys of values the middleware leaves on echo.Context.
const (
	ctxUser       = "user"
	ctxMembership = "membership"
	ctxFrame      = "frame"      // *models.RequestFrame read with the user
	ctxFrameSlug  = "frame_slug" // the workspace slug it was read for
	ctxRefused    = "refused"    // the models.Action the member's role was refused
)

// ipExtractor believes X-Forwarded-For only from the configured proxies; nothing is trusted by
// default, not even loopback or private networks.
func (s *Server) ipExtractor() echo.IPExtractor {
	if len(s.Cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range s.Cfg.TrustedProxies {
		_, n, err := net.ParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// recoverPanics turns a panic into a 500 through the error handler, with the stack logged.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.Log.Error("panic", "error", r, "stack", string(debug.Stack()), "request_id", requestID(c))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders sets the security headers (docs/design.md) on every response, errors and static files included.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.Cfg.Production || c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// logRequests writes one line per request.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if c.Path() != paths.Healthz.Pattern() {
			path := c.Request().URL.Path
			if strings.Contains(c.Path(), ":token") {
				path = c.Path() // an invitation token in a log line would be a usable invitation
			}
			s.Log.Info("request", "method", c.Request().Method, "path", path,
				"status", c.Response().Status, "ms", time.Since(start).Milliseconds(),
				"ip", c.RealIP(), "request_id", requestID(c))
		}
		return nil
	}
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// staticFiles serves the embedded assets with a short cache lifetime.
func (s *Server) staticFiles(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		fileServer.ServeHTTP(w, r)
	})
}

// sessionAndFrame prepares the request for the session manager's middleware: its store writes a
// session back only when the request changed it or its idle deadline moved by a minute, and reads
// with the session the frame loadUser needs (the user, the membership of the workspace in the URL,
// the switcher for a page), so that both take one query.
func (s *Server) sessionAndFrame(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := models.WithSessionAndFrame(c.Request().Context(), c.Param("slug"), wantsSwitcher(c))
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// wantsSwitcher reports whether the request renders a page with a frame: a GET that is not an htmx
// fragment.
func wantsSwitcher(c echo.Context) bool {
	return c.Request().Method == http.MethodGet && !isHTMX(c)
}

// loadUser puts the signed-in user, if any, on the context; a disabled or deleted user's session
// ends here.
func (s *Server) loadUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		ctx = models.WithClientIP(ctx, c.RealIP())
		c.SetRequest(c.Request().WithContext(ctx))
		id := s.Sessions.GetString(ctx, "user_id")
		if id == "" {
			return next(c)
		}
		uid, err := parseUUID(id)
		if err != nil {
			return s.Sessions.Destroy(ctx)
		}
		// The user, the membership of the workspace the URL names and, for a page with a frame,
		// the switcher's list: read with the session, or else in one query now.
		slug := c.Param("slug")
		f, fu := models.SessionFrame(ctx)
		if f == nil || fu != uid {
			f, err = models.LoadFrame(ctx, s.DB, uid, slug, wantsSwitcher(c))
		}
		var u *models.User
		if f != nil {
			u = f.User
		}
		if err != nil || u.DisabledAt != nil {
			if err != nil && !isNotFound(err) {
				return err
			}
			if err := s.Sessions.Destroy(ctx); err != nil {
				return err
			}
			return next(c)
		}
		c.Set(ctxUser, u)
		c.Set(ctxFrame, f)
		c.Set(ctxFrameSlug, slug)
		// The session list's "last active" moves at most once a minute; the session itself
		// remembers when, so most requests spend no query on it.
		if now := s.Now().Unix(); now-s.Sessions.GetInt64(ctx, "seen") >= 60 {
			s.Sessions.Put(ctx, "seen", now)
			if err := models.TouchSession(ctx, s.DB, s.Sessions.Token(ctx), s.Now()); err != nil {
				s.Log.Warn("touch session", "error", err)
			}
		}
		return next(c)
	}
}

// hasSecondFactor reports whether the signed-in user has a second factor in use, as read with the
// request's frame.
func hasSecondFactor(c echo.Context) bool {
	f, ok := c.Get(ctxFrame).(*models.RequestFrame)
	return ok && f.SecondFactor
}

// twoFactorSetup reports whether the request is for the two-factor page, its enrolment or adding a
// passkey (a passkey is a second factor too), which stay open to a person who must set up a
// second factor.
func twoFactorSetup(c echo.Context) bool {
	p := c.Path()
	return p == paths.TwoFactor.Pattern() || p == paths.TwoFactorEnable.Pattern() ||
		p == paths.PasskeyOptions.Pattern() || p == paths.Passkeys.Pattern()
}

// currentUser returns the signed-in user or nil.
func currentUser(c echo.Context) *models.User {
	u, _ := c.Get(ctxUser).(*models.User)
	return u
}

// csrfToken returns the session's CSRF token, making one when the session has none.
func (s *Server) csrfToken(ctx context.Context) string {
	tok := s.Sessions.GetString(ctx, "csrf")
	if tok == "" {
		b := make([]byte, 32)
		rand.Read(b)
		tok = base64.RawURLEncoding.EncodeToString(b)
		s.Sessions.Put(ctx, "csrf", tok)
	}
	return tok
}

// csrf refuses every state-changing request that a browser says comes from another site
// (Sec-Fetch-Site, Origin), and every one whose _csrf field or X-CSRF-Token header does not match
// the session's token, compared in constant time.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		// A browser says where a request comes from: Sec-Fetch-Site same-origin or none, or an
		// Origin on this host or the base URL. Anything else is refused before the token is looked
		// at; a client that sends neither header is judged by the token alone.
		if err := s.crossOrigin.Check(c.Request()); err != nil {
			return &codedError{Status: http.StatusForbidden, Code: "cross_origin",
				Message: "Cross-site requests are refused. Open Atrium itself and try again."}
		}
		want := s.Sessions.GetString(c.Request().Context(), "csrf")
		got := c.Request().Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("_csrf")
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return echo.NewHTTPError(http.StatusForbidden, "The form has expired or did not come from Atrium. Reload the page and try again.")
		}
		return next(c)
	}
}

// authorize applies a route's rule from the table; the zero rule, or one it does not know, refuses.
func (s *Server) authorize(r rule) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch r.who {
			case whoVisitor:
				return next(c)
			case whoSignedIn, whoMember, whoSupport:
				u := currentUser(c)
				if u == nil {
					return s.toLogin(c)
				}
				c.Response().Header().Set("Cache-Control", "no-store")
				// Support staff change nothing, on any route, before a route's own rule can answer
				// otherwise (a workspace route would say 404); only their own account is theirs.
				if u.IsSupport() && c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead && !r.ownAccount && !r.supportGrant {
					return echo.NewHTTPError(http.StatusForbidden, "Support access is read-only.")
				}
				// Support staff always need a second factor: until they have one, the two-factor
				// page is the only one open to them.
				if u.IsSupport() && !hasSecondFactor(c) && !twoFactorSetup(c) {
					s.flash(c, "Support staff must use two-factor authentication. Set it up to continue.")
					return s.redirect(c, paths.TwoFactor.URL())
				}
				if r.who == whoSupport {
					if !u.IsSupport() {
						return echo.ErrNotFound
					}
					return next(c)
				}
				if r.who == whoMember {
					return s.inMembership(c, r.action, next)
				}
				if c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
					// A change to the account can end keys' access (leaving a workspace, closing
					// the account): this process forgets its cached keys at once.
					defer s.Keys.ForgetAll()
				}
				return next(c)
			}
			s.Log.Error("route has no access rule", "route", c.Request().Method+" "+c.Path())
			return echo.NewHTTPError(http.StatusForbidden, "This page is not available.")
		}
	}
}

// inMembership resolves the workspace in the URL among the user's own: a workspace the user does
// not belong to is 404, a role that may not do the route's action is 403. The membership is left on
// the echo context; the request context never carries the workspace: handlers reach its rows
// through s.inWorkspace, which opens the workspace's transaction.
func (s *Server) inMembership(c echo.Context, a models.Action, next echo.HandlerFunc) error {
	u := currentUser(c)
	ctx := c.Request().Context()
	m, err := s.requestMembership(c, u)
	if err != nil {
		return err
	}
	// A workspace that requires two-factor opens only to members who have a second factor; the
	// others are sent to set one up, and come back here after.
	if m.RequireTwoFactor && !hasSecondFactor(c) {
		next := paths.Workspace.URL(m.Slug)
		if c.Request().Method == http.MethodGet && !isHTMX(c) {
			next = c.Request().URL.RequestURI()
		}
		s.flash(c, m.Name+" requires two-factor authentication. Set it up to continue.")
		return s.redirect(c, paths.TwoFactor.URL()+"?next="+urlQueryEscape(next))
	}
	// Set before the role is checked: a refusal is answered inside the workspace's frame, with who
	// may do it.
	c.Set(ctxMembership, m)
	if !m.Role.Can(a) {
		c.Set(ctxRefused, a)
		return echo.NewHTTPError(http.StatusForbidden, "Your role in this workspace does not allow this.")
	}
	// "Last active" on the members page moves at most once a minute; the lookup above read it,
	// so most requests spend nothing on it.
	if now := s.Now(); m.LastSeenAt == nil || now.Sub(*m.LastSeenAt) >= time.Minute {
		if err := models.InWorkspace(ctx, s.DB, m.ID, func(ctx context.Context, tn *models.Tenant) error {
			return models.TouchMember(ctx, tn, u.ID, now)
		}); err != nil {
			s.Log.Warn("touch member", "error", err)
		}
	}
	// The next log-in lands here: written only when the user opens another workspace than last time.
	if c.Request().Method == http.MethodGet {
		if err := models.RememberWorkspace(ctx, s.DB, u, m.ID); err != nil {
			s.Log.Warn("remember workspace", "error", err)
		}
	}
	if c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
		// A change in the workspace can end keys' access (revoke, roll, a member removed or
		// demoted, the tier changed): this process forgets the workspace's cached keys as soon as
		// the change is made; other processes hear of it by notification.
		defer s.Keys.Forget(m.ID)
	}
	return next(c)
}

// requestMembership is the user's membership of the workspace in the URL: the one read with the
// user at the start of this request, or, when that read was not for this slug, read now.
func (s *Server) requestMembership(c echo.Context, u *models.User) (*models.Membership, error) {
	slug := c.Param("slug")
	if f, ok := c.Get(ctxFrame).(*models.RequestFrame); ok && slug != "" && c.Get(ctxFrameSlug) == slug {
		if f.Membership == nil {
			return nil, models.Errorf(models.ErrNotFound, "workspace not found")
		}
		return f.Membership, nil
	}
	return models.ResolveMembership(c.Request().Context(), s.DB, slug, u.ID)
}

// membership returns the workspace the request is in.
func membership(c echo.Context) *models.Membership {
	m, _ := c.Get(ctxMembership).(*models.Membership)
	return m
}

// toLogin sends an anonymous visitor to the log-in page, remembering where they were going.
func (s *Server) toLogin(c echo.Context) error {
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet {
		next = ""
	}
	target := paths.Login.URL()
	if next != "" && next != "/" {
		target += "?next=" + urlQueryEscape(next)
	}
	return s.redirect(c, target)
}

// logAttr is a helper for structured logging of errors.
func logAttr(err error) slog.Attr { return slog.String("error", err.Error()) }
