package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/models"
)

// ctxCaller is where the API middleware leaves the authenticated key on echo.Context.
const ctxCaller = "api_caller"

// apiBodyLimit is the largest request body the API reads.
const apiBodyLimit = 64 << 10

// UnlimitedRate is what RateLimit-Limit and RateLimit-Remaining say for a tier without an hourly
// limit. The headers must be plain integers; a large one keeps a naive client from ever throttling
// itself, where 0 or -1 would make it stop. /api/v1/usage says null for the same limit.
const UnlimitedRate = math.MaxInt32

// errBadKey is the one answer for every key that does not authenticate, whatever the reason.
var errBadKey = &codedError{Status: http.StatusUnauthorized, Code: "unauthorized",
	Message: "A valid API key is required in the Authorization header: Authorization: Bearer atr_…"}

// queryCredentialNames are query parameters that carry credentials elsewhere; a key never travels
// in a URL, where proxies, logs and browser history keep it.
var queryCredentialNames = []string{"api_key", "apikey", "key", "token", "access_token", "auth", "authorization"}

// apiCaller returns the key the request authenticated with.
func apiCaller(c echo.Context) *models.APICaller {
	k, _ := c.Get(ctxCaller).(*models.APICaller)
	return k
}

// apiKeyAuth authenticates the JSON API: a key in Authorization: Bearer and nothing else (no
// session cookie, nothing in the URL). It also shares the process fairly among workspaces (see
// fairGate). The chain is built once per server, so the gate is the server's.
func (s *Server) apiKeyAuth() echo.MiddlewareFunc {
	per := 16
	if n := s.DB.DB.Stats().MaxOpenConnections; n > 0 {
		per = max(2, n/2)
	}
	gate := newFairGate(per)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx := models.WithClientIP(req.Context(), c.RealIP())
			c.SetRequest(req.WithContext(ctx))
			c.Response().Header().Set("Cache-Control", "no-store")
			if credentialInURL(req.URL) {
				// The request's log line names its path: a key pasted there must not reach the log.
				redacted := *req.URL
				redacted.Path, redacted.RawPath, redacted.RawQuery = models.RedactKeys(redacted.Path), "", ""
				r := req.WithContext(ctx)
				r.URL = &redacted
				c.SetRequest(r)
				return &codedError{Status: http.StatusBadRequest, Code: "key_in_query",
					Message: "API keys are accepted only in the Authorization header, never in the URL. If a real key was in it, treat it as leaked and roll it."}
			}
			token, ok := bearerToken(req.Header.Get("Authorization"))
			prefix, _, wellFormed := models.ParseKey(token)
			if !ok || !wellFormed {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="atrium"`)
				return errBadKey
			}
			release, err := gate.acquire(ctx, prefix)
			if err != nil {
				return err
			}
			defer release()
			caller, err := s.Keys.Authenticate(ctx, token, s.Now())
			if errors.Is(err, models.ErrBadKey) {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="atrium", error="invalid_token"`)
				return errBadKey
			}
			if err != nil {
				return err
			}
			gate.learn(prefix, caller.WorkspaceID)
			c.Set(ctxCaller, caller)
			return next(c)
		}
	}
}

// credentialInURL reports whether the URL carries a key (in its query or its path) or another
// credential in its query.
func credentialInURL(u *url.URL) bool {
	if models.LooksLikeKey(u.Path) || models.LooksLikeKey(u.RawPath) {
		return true
	}
	if u.RawQuery == "" {
		return false
	}
	if raw, err := url.QueryUnescape(u.RawQuery); models.LooksLikeKey(u.RawQuery) || err == nil && models.LooksLikeKey(raw) {
		return true
	}
	q := u.Query()
	for _, name := range queryCredentialNames {
		if q.Has(name) {
			return true
		}
	}
	return false
}

// bearerToken takes the token out of an Authorization header (the scheme is case-insensitive).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// apiRateLimit counts the call against the workspace's hourly limit (refusing it with 429 once the
// limit is reached) and sets the RateLimit headers. It runs after apiKeyAuth and before the route's
// scope check (requireScope); authorize never sees API routes.
func (s *Server) apiRateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller := apiCaller(c)
		now := s.Now()
		w, err := s.Meter.Admit(c.Request().Context(), caller, now)
		setRateHeaders(c, w, now)
		if err != nil {
			return err
		}
		return next(c)
	}
}

// requireScope refuses a key whose scope does not cover the route's, the table's rule for API
// routes.
func (s *Server) requireScope(need models.KeyScope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if need == "" || !apiCaller(c).Scope.Allows(need) {
				msg := "This key may only read. Writing needs a key with scope read_write."
				switch {
				case need == models.ScopeAuditRead:
					msg = "Reading the audit log needs a key with scope audit:read, which owners and admins can create."
				case apiCaller(c).Scope == models.ScopeAuditRead:
					msg = "This key may only read the audit log (GET /api/v1/audit)."
				}
				return &codedError{Status: http.StatusForbidden, Code: "insufficient_scope", Message: msg}
			}
			return next(c)
		}
	}
}

// apiNotFound answers an API path the table does not have (the call still counts).
func (s *Server) apiNotFound(echo.Context) error {
	return &codedError{Status: http.StatusNotFound, Code: "not_found", Message: "There is no such API endpoint."}
}

// setRateHeaders writes RateLimit-Limit, -Remaining and -Reset (seconds to the hour's end), plain
// integers, on every authenticated response.
func setRateHeaders(c echo.Context, w models.RateWindow, now time.Time) {
	limit, remaining := int64(UnlimitedRate), int64(UnlimitedRate)
	if rem, ok := w.Remaining(); ok {
		limit, _ = w.Limit.Value()
		remaining = rem
	}
	h := c.Response().Header()
	h.Set("RateLimit-Limit", strconv.FormatInt(limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(remaining, 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(w.ResetsAt.Sub(now)), 10))
}

func ceilSeconds(d time.Duration) int64 {
	return max(0, int64(math.Ceil(d.Seconds())))
}

// apiTx runs fn in the caller's workspace transaction.
func (s *Server) apiTx(c echo.Context, fn func(ctx context.Context, tn *models.Tenant) error) error {
	return models.InWorkspace(c.Request().Context(), s.DB, apiCaller(c).WorkspaceID, fn)
}

// apiRead runs fn as a one-round-trip read bound to the caller's workspace.
func (s *Server) apiRead(c echo.Context, fn func(ctx context.Context, r *models.TenantRead) error) error {
	return models.ReadInWorkspace(c.Request().Context(), s.DB, apiCaller(c).WorkspaceID, fn)
}

// decodeJSON reads a request body into v strictly: JSON only, one object, no unknown or repeated
// fields, the right types, text that is valid UTF-8 without control characters (line breaks and
// tabs aside), at most apiBodyLimit bytes. Nothing is written when it fails.
func decodeJSON(c echo.Context, v any) error {
	req := c.Request()
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &codedError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "Send the body as JSON with Content-Type: application/json."}
	}
	tooLarge := &codedError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("The body is larger than %d KiB.", apiBodyLimit>>10)}
	if req.ContentLength > apiBodyLimit {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, apiBodyLimit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge
	}
	if err != nil {
		return &codedError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body could not be read."}
	}
	if ce := scanJSON(body); ce != nil {
		return ce
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return &codedError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body must be one JSON object and nothing after it."}
		}
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return tooLarge
	case errors.As(err, &te) && te.Field == "":
		return &codedError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body must be a JSON object."}
	case errors.As(err, &te):
		return &codedError{Status: http.StatusBadRequest, Code: "invalid_type",
			Message: fmt.Sprintf("Field %s must be %s, not %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &codedError{Status: http.StatusBadRequest, Code: "unknown_field",
			Message: fmt.Sprintf("Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))}
	case errors.As(err, &se), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &codedError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body is not valid JSON."}
	}
	return &codedError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body could not be read as JSON."}
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch {
	case kind == "string":
		return "a string"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "true or false"
	case kind == "slice", kind == "array":
		return "an array"
	}
	return "an object"
}

// fairGate shares one process's database pool among workspaces: it lets at most per requests of
// one workspace in at a time and queues the rest, so a workspace's flood waits behind itself and
// never takes the connections another workspace's requests need. A key's workspace is learnt at
// its first successful authentication (a prefix never changes workspace); until then the key is a
// group of its own. It decides nothing about access: it only orders the waiting.
type fairGate struct {
	per    int
	mu     sync.Mutex
	groups map[string]*gateGroup
	owner  map[string]uuid.UUID
}

type gateGroup struct {
	slots chan struct{}
	users int
}

// gateMemory caps how many prefix-to-workspace entries a process remembers.
const gateMemory = 100_000

func newFairGate(per int) *fairGate {
	return &fairGate{per: per, groups: map[string]*gateGroup{}, owner: map[string]uuid.UUID{}}
}

// acquire waits for a slot of the key's group and returns its release.
func (g *fairGate) acquire(ctx context.Context, prefix string) (func(), error) {
	g.mu.Lock()
	name := "key:" + prefix
	if ws, ok := g.owner[prefix]; ok {
		name = "ws:" + ws.String()
	}
	gr := g.groups[name]
	if gr == nil {
		gr = &gateGroup{slots: make(chan struct{}, g.per)}
		g.groups[name] = gr
	}
	gr.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if gr.users--; gr.users == 0 {
			delete(g.groups, name)
		}
		g.mu.Unlock()
	}
	select {
	case gr.slots <- struct{}{}:
		return func() { <-gr.slots; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// learn remembers which workspace a prefix belongs to.
func (g *fairGate) learn(prefix string, ws uuid.UUID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.owner[prefix]; ok {
		return
	}
	if len(g.owner) >= gateMemory {
		clear(g.owner)
	}
	g.owner[prefix] = ws
}

// apiWorkspace answers the key's workspace.
func (s *Server) apiWorkspace(c echo.Context) error {
	var ws *models.Workspace
	err := s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		var err error
		ws, err = models.ReadWorkspace(ctx, r)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"id": ws.ID.String(), "name": ws.Name, "slug": ws.Slug, "tier": string(ws.Tier)})
}

type usedLimit struct {
	Used  int64        `json:"used"`
	Limit models.Limit `json:"limit"`
}

type usageJSON struct {
	Tier            string    `json:"tier"`
	PeriodStart     time.Time `json:"period_start"`
	PeriodEnd       time.Time `json:"period_end"`
	AgentMinutes    usedLimit `json:"agent_minutes"`
	APICallsHour    apiCalls  `json:"api_calls_this_hour"`
	ConcurrentTasks usedLimit `json:"concurrent_tasks"`
	Members         usedLimit `json:"members"`
}

type apiCalls struct {
	Used     int64        `json:"used"`
	Limit    models.Limit `json:"limit"`
	ResetsAt time.Time    `json:"resets_at"`
}

// apiUsage answers the workspace's use against its tier: agent-minutes of the calendar month
// (UTC), API calls of this hour (this call included), running tasks and seats. A limit of null is
// unlimited.
func (s *Server) apiUsage(c echo.Context) error {
	var u *models.Snapshot
	err := s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		var err error
		u, err = models.ReadUsage(ctx, r, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, usageJSON{
		Tier: string(u.Tier), PeriodStart: u.PeriodStart, PeriodEnd: u.PeriodEnd,
		AgentMinutes:    usedLimit{u.AgentMinutesMonth, u.Limits.AgentMinutesPerMonth},
		APICallsHour:    apiCalls{u.APICallsHour, u.Limits.APICallsPerHour, u.HourResets()},
		ConcurrentTasks: usedLimit{u.RunningTasks, u.Limits.ConcurrentTasks},
		Members:         usedLimit{u.Members, u.Limits.Members},
	})
}
