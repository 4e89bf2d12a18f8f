// Package webtest drives a real Atrium server in tests: httptest.NewServer over the real handler
// and a test database, clients with cookie jars that do not follow redirects, and CSRF scraping.
package webtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"

	"atrium/handlers"
	"atrium/models"
	"atrium/models/testdb"
)

// Password is the password of every user the helpers make.
const Password = "correct horse battery staple"

// App is a running server on the package's test database.
type App struct {
	T      testing.TB
	Server *handlers.Server
	HTTP   *httptest.Server
	DB     *testdb.DB
	// ahead is how far Advance has moved the server's clock past the tests' clock.
	ahead atomic.Int64
}

// Advance moves the server's one clock (its Now, which the session store reads too) d ahead of the
// tests' clock, on top of earlier advances: sessions, challenges and links age together.
func (a *App) Advance(d time.Duration) { a.ahead.Add(int64(d)) }

// now is the server's clock: the tests' clock plus what Advance added.
func (a *App) now() time.Time { return testdb.Clock().Add(time.Duration(a.ahead.Load())) }

// Start runs the real handler on an httptest server whose address is the configured base URL.
func Start(t testing.TB) *App {
	t.Helper()
	return StartWith(t, handlers.Config{})
}

// StartWith runs the real handler with cfg on an httptest server; an empty BaseURL becomes the
// server's own address.
func StartWith(t testing.TB, cfg handlers.Config) *App {
	t.Helper()
	d := testdb.Get(t)
	log := slog.New(slog.NewTextHandler(logOutput(), nil))
	hs := httptest.NewUnstartedServer(nil)
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + hs.Listener.Addr().String()
	}
	if cfg.BaseURL == Localhost {
		// A domain name, as WebAuthn wants one: passkeys refuse an IP address.
		_, port, _ := strings.Cut(hs.Listener.Addr().String(), ":")
		cfg.BaseURL = "http://localhost:" + port
	}
	srv := handlers.New(d.App, cfg, log)
	app := &App{T: t, Server: srv, HTTP: hs, DB: d}
	srv.Now = app.now // the tests' one clock (TEST_NOW moves the server too), moved on by Advance
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(func() { srv.Close(context.Background()) })
	t.Cleanup(hs.Close)
	return app
}

// Localhost as StartWith's BaseURL serves the app as http://localhost:<port>, under a domain name
// (passkeys need one); App.BaseURL is then the address to open.
const Localhost = "http://localhost"

// BaseURL is the address the server believes it is at.
func (a *App) BaseURL() string { return a.Server.Cfg.BaseURL }

// Client is one browser: a cookie jar, no redirect following.
type Client struct {
	App  *App
	HTTP *http.Client
	// CSRF is the last token scraped from a page.
	CSRF string
}

// Client returns a new anonymous browser.
func (a *App) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{App: a, HTTP: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body string
}

// Doc parses the body as HTML.
func (r *Response) Doc() *goquery.Document {
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		panic(err)
	}
	return d
}

// TestID returns the trimmed text of the first element with data-testid=id.
func (r *Response) TestID(id string) string {
	return strings.TrimSpace(r.Doc().Find(`[data-testid="` + id + `"]`).First().Text())
}

// Has reports whether an element with data-testid=id exists.
func (r *Response) Has(id string) bool {
	return r.Doc().Find(`[data-testid="`+id+`"]`).Length() > 0
}

// Do sends a request; body is form-encoded when it is url.Values.
func (c *Client) Do(method, path string, body url.Values, header http.Header) *Response {
	c.App.T.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequest(method, c.App.HTTP.URL+path, rd)
	if err != nil {
		c.App.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.App.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := &Response{Response: res, Body: string(b)}
	if tok, ok := out.Doc().Find(`meta[name="csrf-token"]`).Attr("content"); ok && tok != "" {
		c.CSRF = tok
	}
	return out
}

// Get fetches a page and remembers its CSRF token.
func (c *Client) Get(path string) *Response {
	c.App.T.Helper()
	return c.Do(http.MethodGet, path, nil, nil)
}

// Post submits a form with the client's current CSRF token (fetching a page first if it has none).
func (c *Client) Post(path string, form url.Values) *Response {
	c.App.T.Helper()
	if c.CSRF == "" {
		c.Get("/login")
	}
	if form == nil {
		form = url.Values{}
	}
	if form.Get("_csrf") == "" {
		form.Set("_csrf", c.CSRF)
	}
	return c.Do(http.MethodPost, path, form, nil)
}

// HTMX sends an htmx request (HX-Request and the CSRF header).
func (c *Client) HTMX(method, path string, form url.Values) *Response {
	c.App.T.Helper()
	if c.CSRF == "" {
		c.Get("/login")
	}
	h := http.Header{"HX-Request": {"true"}, "X-CSRF-Token": {c.CSRF}}
	return c.Do(method, path, form, h)
}

// Cookie returns the session cookie's value.
func (c *Client) Cookie() string {
	u, _ := url.Parse(c.App.HTTP.URL)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == "atrium_session" {
			return ck.Value
		}
	}
	return ""
}

var seq atomic.Int64

// UniqueEmail returns an email no other test uses.
func UniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d-%s@example.com", prefix, seq.Add(1), uuid.NewString()[:6])
}

// UniqueSlug returns a workspace slug no other test uses.
func UniqueSlug(prefix string) string {
	return fmt.Sprintf("%s-%d-%s", prefix, seq.Add(1), uuid.NewString()[:6])
}

// User makes a user directly in the database.
func (a *App) User(email string) *models.User {
	a.T.Helper()
	u, err := models.CreateUser(context.Background(), a.DB.App, models.NewUser{Email: email, Name: strings.Split(email, "@")[0], Password: Password,
		VerifiedAt: a.now()}, a.now())
	if err != nil {
		a.T.Fatal(err)
	}
	return u
}

// Login returns a client logged in as email (made if missing).
func (a *App) Login(email string) *Client {
	a.T.Helper()
	if _, err := models.UserByEmail(context.Background(), a.DB.App, email); err != nil {
		a.User(email)
	}
	c := a.Client()
	c.Get("/login")
	res := c.Post("/login", url.Values{"email": {email}, "password": {Password}})
	// A refusal is a 303 too, back to the log-in page.
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc == "/login" || strings.HasPrefix(loc, "/login?") {
		a.T.Fatalf("login %s: status %d to %q", email, res.StatusCode, loc)
	}
	c.Get("/workspaces")
	return c
}

// Workspace makes a workspace owned by owner and returns it.
func (a *App) Workspace(owner *models.User, slug string) *models.Workspace {
	a.T.Helper()
	ws, err := models.CreateWorkspace(context.Background(), a.DB.App, owner, "Workspace "+slug, slug, a.now())
	if err != nil {
		a.T.Fatal(err)
	}
	return ws
}

// AddMember puts user in ws with role, directly.
func (a *App) AddMember(ws *models.Workspace, user *models.User, role models.Role) {
	a.T.Helper()
	err := models.InWorkspace(context.Background(), a.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewInsert().Model(&models.Member{UserID: user.ID, Role: role, CreatedAt: a.now()}).Exec(ctx)
		return err
	})
	if err != nil {
		a.T.Fatal(err)
	}
}

// SetTier changes a workspace's tier directly.
func (a *App) SetTier(ws *models.Workspace, tier models.Tier) {
	a.T.Helper()
	err := models.InWorkspace(context.Background(), a.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewUpdate().Model(ws).Set("tier = ?", tier).WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		a.T.Fatal(err)
	}
}

// EnableTwoFactor turns on TOTP two-factor for u as enrolment does (a first code at the server's
// clock) and returns the secret.
func (a *App) EnableTwoFactor(u *models.User) string {
	a.T.Helper()
	ctx := context.Background()
	secret, err := models.BeginTOTP(ctx, a.DB.App, u, a.Server.Now())
	if err != nil {
		a.T.Fatal(err)
	}
	code, err := totp.GenerateCode(secret, a.Server.Now())
	if err != nil {
		a.T.Fatal(err)
	}
	if _, err := models.EnableTOTP(ctx, a.DB.App, u, code, a.Server.Now()); err != nil {
		a.T.Fatal(err)
	}
	return secret
}

// LoginTwoFactor returns a client logged in as email with its password and then the code of
// secret for the next 30-second step (the current one was spent by enrolment; an authenticator's
// code for the next step is accepted, as clocks differ).
func (a *App) LoginTwoFactor(email, secret string) *Client {
	a.T.Helper()
	c := a.Client()
	c.Get("/login")
	res := c.Post("/login", url.Values{"email": {email}, "password": {Password}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/login/two-factor" {
		a.T.Fatalf("login %s: status %d to %q, want 303 to /login/two-factor", email, res.StatusCode, loc)
	}
	code, err := totp.GenerateCode(secret, a.Server.Now().Add(30*time.Second))
	if err != nil {
		a.T.Fatal(err)
	}
	res = c.Post("/login/two-factor", url.Values{"code": {code}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc == "/login" || loc == "/login/two-factor" {
		a.T.Fatalf("second factor %s: status %d to %q", email, res.StatusCode, res.Header.Get("Location"))
	}
	c.Get("/account")
	return c
}

// logOutput is where the server under test logs: nowhere, unless ATRIUM_TEST_LOG=1.
func logOutput() io.Writer {
	if os.Getenv("ATRIUM_TEST_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}

// Back checks that res, the answer to a refused form, is a 303 to page (the form's own page, never
// a page answering the POST) and fetches that page.
func (c *Client) Back(res *Response, page string) *Response {
	c.App.T.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page {
		c.App.T.Fatalf("want 303 See Other to %s, got %d to %q: %.300s", page, res.StatusCode, res.Header.Get("Location"), res.Body)
	}
	return c.Get(page)
}

// Follow fetches the page a 303 points to (the answer to a form that was refused or done) and
// fails the test on any other answer.
func (c *Client) Follow(res *Response) *Response {
	c.App.T.Helper()
	if res.StatusCode != http.StatusSeeOther {
		c.App.T.Fatalf("want 303 See Other, got %d: %.300s", res.StatusCode, res.Body)
	}
	return c.Get(res.Header.Get("Location"))
}
