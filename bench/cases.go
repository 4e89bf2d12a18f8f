package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
)

// benchCase is one row kind of the table.
type benchCase struct {
	key   string // what -cases names it by
	group string // and its group: floor, api, pages, login
	name  string // the row's label
	// pairs: a call is two requests (start and complete a task), and the rate is pairs per second.
	pairs bool
	// burst: each client makes one call, all at once, without warm-up (the log-in burst).
	burst bool
	// client makes client i's call; it may do untimed set-up (a log-in).
	client func(ctx context.Context, i int) (call, error)
}

// caseKeys are the cases in table order.
var caseKeys = []string{"bare", "pk", "agent", "agents", "tasks", "overview", "members", "usage", "login"}

// caseGroups are what -cases accepts besides single keys.
var caseGroups = map[string][]string{
	"all":   caseKeys,
	"floor": {"bare", "pk"},
	"api":   {"agent", "agents", "tasks"},
	"pages": {"overview", "members", "usage"},
	"login": {"login"},
}

// env is what the cases call into.
type env struct {
	appURL   string // the real server
	floorURL string // the floor's echo server
	http     *http.Client
	data     *seeded
	sessions *sessionPool
}

// floorServer is the floor under the application, on the same kind of loopback server: (a) an echo
// handler answering JSON without the database, (b) one answering a primary-key select made on a
// pgx pool of the application's size, as the runtime role, on the same database.
func floorServer(pool *pgxpool.Pool, userID uuid.UUID) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/bare", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"id": userID.String(), "name": "Bench Owner", "email": benchEmail})
	})
	e.GET("/pk", func(c echo.Context) error {
		var out struct {
			ID    uuid.UUID `json:"id"`
			Name  string    `json:"name"`
			Email string    `json:"email"`
		}
		err := pool.QueryRow(c.Request().Context(), "SELECT id, name, email::text FROM users WHERE id = $1", userID).
			Scan(&out.ID, &out.Name, &out.Email)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	})
	return e
}

func (e *env) cases() map[string]*benchCase {
	get := func(base, path string, header func(i int) http.Header) func(ctx context.Context, i int) (call, error) {
		return func(ctx context.Context, i int) (call, error) {
			h := header(i)
			return func(ctx context.Context) error {
				_, err := e.do(ctx, http.MethodGet, base+path, h, nil, http.StatusOK)
				return err
			}, nil
		}
	}
	none := func(int) http.Header { return nil }
	readKey := func(i int) http.Header {
		return http.Header{"Authorization": {"Bearer " + e.data.readKeys[i%len(e.data.readKeys)]}}
	}
	session := func(path string) func(ctx context.Context, i int) (call, error) {
		return func(ctx context.Context, i int) (call, error) {
			cookie, err := e.sessions.get(ctx, i)
			if err != nil {
				return nil, err
			}
			return get(e.appURL, path, func(int) http.Header { return http.Header{"Cookie": {cookie}} })(ctx, i)
		}
	}
	cs := []*benchCase{
		{key: "bare", group: "floor", name: "a: bare echo handler", client: get(e.floorURL, "/bare", none)},
		{key: "pk", group: "floor", name: "b: PK select (pgx pool)", client: get(e.floorURL, "/pk", none)},
		{key: "agent", group: "api", name: "GET /api/v1/agents/:id", client: func(ctx context.Context, i int) (call, error) {
			h := readKey(i)
			var n atomic.Int64
			n.Store(int64(i))
			return func(ctx context.Context) error {
				id := e.data.agents[int(n.Add(1))%len(e.data.agents)]
				_, err := e.do(ctx, http.MethodGet, e.appURL+"/api/v1/agents/"+id.String(), h, nil, http.StatusOK)
				return err
			}, nil
		}},
		{key: "agents", group: "api", name: "GET /api/v1/agents (50)", client: get(e.appURL, "/api/v1/agents?limit=50", readKey)},
		{key: "tasks", group: "api", name: "POST /api/v1/tasks + complete", pairs: true, client: func(ctx context.Context, i int) (call, error) {
			h := http.Header{"Authorization": {"Bearer " + e.data.writeKeys[i%len(e.data.writeKeys)]}, "Content-Type": {"application/json"}}
			var n atomic.Int64
			n.Store(int64(i))
			return func(ctx context.Context) error {
				agent := e.data.agents[int(n.Add(1))%len(e.data.agents)]
				body, err := e.do(ctx, http.MethodPost, e.appURL+"/api/v1/tasks", h,
					[]byte(`{"agent_id":"`+agent.String()+`","input":"bench"}`), http.StatusCreated)
				if err != nil {
					return err
				}
				var t struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(body, &t); err != nil || t.ID == "" {
					return fmt.Errorf("POST /api/v1/tasks: no task id in %.200s", body)
				}
				_, err = e.do(ctx, http.MethodPost, e.appURL+"/api/v1/tasks/"+t.ID+"/complete", h,
					[]byte(`{"status":"succeeded"}`), http.StatusOK)
				return err
			}, nil
		}},
		{key: "overview", group: "pages", name: "overview page", client: session("/w/" + benchSlug)},
		{key: "members", group: "pages", name: "members page", client: session("/w/" + benchSlug + "/members")},
		{key: "usage", group: "pages", name: "usage page, 90 days", client: session("/w/" + benchSlug + "/usage?range=90")},
		{key: "login", group: "login", name: "log-in burst (form + POST)", burst: true, client: func(ctx context.Context, i int) (call, error) {
			return func(ctx context.Context) error {
				_, err := e.login(ctx)
				return err
			}, nil
		}},
	}
	out := map[string]*benchCase{}
	for _, c := range cs {
		out[c.key] = c
	}
	return out
}

// do makes one request and reads the whole answer; any status but want is an error.
func (e *env) do(ctx context.Context, method, u string, h http.Header, body []byte, want int) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %.300s", method, strings.TrimPrefix(u, e.appURL), res.StatusCode, want, b)
	}
	return b, nil
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`)

// login logs the bench owner in through the real form and returns the session's Cookie header.
func (e *env) login(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.appURL+"/login", nil)
	res, err := e.http.Do(req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfMeta.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		return "", fmt.Errorf("GET /login: %d, no CSRF token", res.StatusCode)
	}
	form := url.Values{"email": {benchEmail}, "password": {benchPassword}, "_csrf": {string(m[1])}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, e.appURL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range res.Cookies() {
		req.AddCookie(c)
	}
	res, err = e.http.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("POST /login: %d, want %d", res.StatusCode, http.StatusSeeOther)
	}
	var cookies []string
	for _, c := range res.Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	if len(cookies) == 0 {
		return "", errors.New("POST /login set no cookie")
	}
	return strings.Join(cookies, "; "), nil
}

// sessionPool holds one signed-in session per page client, made once and reused by every page
// case and repetition (a shared session would make the clients queue on its row).
type sessionPool struct {
	e       *env
	cookies []string
}

// ensure logs in until there are n sessions, a few at a time (each log-in hashes a password).
func (p *sessionPool) ensure(ctx context.Context, n int) error {
	need := n - len(p.cookies)
	if need <= 0 {
		return nil
	}
	made := make([]string, need)
	errs := make([]error, need)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range made {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			made[i], errs[i] = p.e.login(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.cookies = append(p.cookies, made...)
	return nil
}

func (p *sessionPool) get(ctx context.Context, i int) (string, error) {
	if err := p.ensure(ctx, i+1); err != nil {
		return "", err
	}
	return p.cookies[i], nil
}

// probeList checks that the list case lists what it says: a page of 50 agents.
func probeList(ctx context.Context, e *env) error {
	body, err := e.do(ctx, http.MethodGet, e.appURL+"/api/v1/agents?limit=50",
		http.Header{"Authorization": {"Bearer " + e.data.readKeys[0]}}, nil, http.StatusOK)
	if err != nil {
		return err
	}
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Data) != 50 {
		return fmt.Errorf("GET /api/v1/agents?limit=50: want a page of 50 agents, got %.200s", body)
	}
	return nil
}
