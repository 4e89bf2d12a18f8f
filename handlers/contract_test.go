package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"atrium/handlers"
	"atrium/handlers/openapi"
	"atrium/handlers/paths"
	"atrium/handlers/webtest"
	"atrium/models"
)

// The API tests talk to the server through contractTransport, which checks every exchange
// against the OpenAPI document (handlers/openapi/openapi.json):
//   - a request the document accepts must get a response the document describes for its
//     operation: a documented status, its required headers (RateLimit-*, Retry-After), a body
//     that matches the status's schema (error bodies with one of the status's codes);
//   - a request the document refuses (a body of the wrong shape, no bearer key, a bad parameter)
//     must be refused by the server with a 4xx the document describes, never served;
//   - a request outside the document's paths must be refused (404, 405; 401, 429, 400 before the
//     path is looked at) in the API's error shape.
// Any mismatch fails the request with an error naming it, so the test that sent it fails.

// contract is the document and its router, loaded once.
var contract = sync.OnceValues(func() (*contractChecker, error) {
	doc, err := openapi.Load()
	if err != nil {
		return nil, err
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &contractChecker{doc: doc, router: r}, nil
})

type contractChecker struct {
	doc    *openapi3.T
	router routers.Router
}

// contractTransport validates each exchange it carries against the document.
type contractTransport struct{ next http.RoundTripper }

func (ct contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cc, err := contract()
	if err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	res, err := ct.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if err != nil {
		return nil, err
	}
	if err := cc.check(req, body, res.StatusCode, res.Header, resBody); err != nil {
		return nil, fmt.Errorf("%s %s answered %d: against the OpenAPI document: %w", req.Method, req.URL.Path, res.StatusCode, err)
	}
	return res, nil
}

// bearerPresent is the document's bearer scheme as a client sees it: a non-empty token after
// "Bearer ". Whether the key is good is the server's to say (401).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer key")
	}
	return nil
}

// check judges one exchange; req's body has been read into body.
func (cc *contractChecker) check(req *http.Request, body []byte, status int, header http.Header, resBody []byte) error {
	ctx := context.Background()
	vr := req.Clone(ctx)
	vr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := cc.router.FindRoute(vr)
	if err == nil && (strings.HasSuffix(req.URL.Path, "/") || strings.Contains(req.URL.Path, "//")) {
		// The router forgives a trailing slash or an empty segment ("/agents/" as "/agents");
		// the server does not, and no operation in the document takes one.
		err = errors.New("an empty path segment")
	}
	if err != nil {
		// A path outside the document is unknown (404) or a method it lacks (405), once the key
		// is good (401) and the call admitted (429: unknown paths are metered too); a path with
		// characters no route takes (an escaped slash, a key) may be refused as a bad parameter.
		switch status {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusBadRequest:
		default:
			return fmt.Errorf("no operation in the document (%v), but the server answered neither 404, 405, 401, 429 nor 400", err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(resBody, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			return fmt.Errorf("the answer to a path outside the document is not the error shape: %s", resBody)
		}
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, SkipSettingDefaults: true}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("the document refuses the request (%v), but the server answered %d", reqErr, status)
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	rin.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		return fmt.Errorf("the response does not match the document: %w (body %.300s)", err, resBody)
	}
	return nil
}

// contractClient returns a client whose exchanges are checked against the document.
func contractClient(next http.RoundTripper) *http.Client {
	return &http.Client{Transport: contractTransport{next: next}}
}

// TestOpenAPIDocumentLoadsAndIsServed: the document is valid OpenAPI 3.1 (kin-openapi's loader
// and validator), and GET /api/v1/openapi.json serves exactly it, without a key.
func TestOpenAPIDocumentLoadsAndIsServed(t *testing.T) {
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if doc.Components == nil || doc.Components.SecuritySchemes["bearerKey"] == nil || doc.Components.SecuritySchemes["bearerKey"].Value.Scheme != "bearer" {
		t.Fatal("the document has no bearer scheme")
	}
	app := webtest.Start(t)
	r := apiCall(t, app.HTTP.URL, "GET", paths.APIOpenAPI.URL(), "", "")
	if r.Status != 200 || r.Body != string(openapi.JSON) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %q, %d bytes", paths.APIOpenAPI.URL(), r.Status, r.Header.Get("Content-Type"), len(r.Body))
	}
	if r.Header.Get("RateLimit-Limit") != "" {
		t.Errorf("the document is metered: %v", r.Header)
	}
}

// TestOpenAPIDocumentCoversEveryRoute walks the router and the route table: every API route has an
// operation in the document, every operation is routed, and each operation's security says what
// the table's rule says (a key of the table's scope, or no key for public routes).
func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	cc, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]*openapi3.Operation{}
	for p, item := range cc.doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+openapi.RouterPattern(p)] = op
		}
	}
	app := webtest.Start(t)
	routed := map[string]bool{}
	for _, r := range app.Server.Echo().Routes() {
		if r.Method == "echo_route_not_found" || !strings.HasPrefix(r.Path, paths.APIPrefix+"/") {
			continue
		}
		key := r.Method + " " + r.Path
		routed[key] = true
		if documented[key] == nil {
			t.Errorf("route %s has no operation in the OpenAPI document", key)
		}
	}
	for key := range documented {
		if !routed[key] {
			t.Errorf("the OpenAPI document has %s, which the router does not have", key)
		}
	}
	rows := 0
	for _, row := range handlers.Table() {
		op := documented[row.Method+" "+row.Path]
		if op == nil {
			continue
		}
		rows++
		keyed := op.Security == nil || len(*op.Security) > 0 // nil: the document's default (none is set)
		if keyed && op.Security != nil && (*op.Security)[0]["bearerKey"] == nil {
			t.Errorf("%s %s: security %v, want bearerKey", row.Method, row.Path, *op.Security)
		}
		scope, _ := op.Extensions["x-atrium-scope"].(string)
		switch row.Who {
		case "api":
			if !keyed || models.KeyScope(scope) != row.Scope {
				t.Errorf("%s %s: the document says key %v with scope %q, the table scope %q", row.Method, row.Path, keyed, scope, row.Scope)
			}
		case "public":
			if keyed {
				t.Errorf("%s %s is public, but the document asks for a key", row.Method, row.Path)
			}
		default:
			t.Errorf("%s %s: rule %q under %s", row.Method, row.Path, row.Who, paths.APIPrefix)
		}
	}
	if len(routed) < 12 || rows != len(routed) {
		t.Fatalf("walked %d routes, %d table rows", len(routed), rows)
	}
}

// TestContractCheckerCatchesDrift: the checker the API tests run through refuses answers that
// left the document, so a passing API test means something.
func TestContractCheckerCatchesDrift(t *testing.T) {
	cc, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	rate := http.Header{"Content-Type": {"application/json"}, "Ratelimit-Limit": {"100"}, "Ratelimit-Remaining": {"99"}, "Ratelimit-Reset": {"60"}}
	ws := `{"id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","name":"n","slug":"s","tier":"free"}`
	get := func(path, key string) *http.Request {
		r := httptest.NewRequest("GET", "http://atrium.test"+path, nil)
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		return r
	}
	without := func(h http.Header, name string) http.Header {
		h = h.Clone()
		h.Del(name)
		return h
	}
	if err := cc.check(get("/api/v1/workspace", "atr_x"), nil, 200, rate, []byte(ws)); err != nil {
		t.Fatalf("a good exchange is refused: %v", err)
	}
	for name, tc := range map[string]struct {
		req    *http.Request
		body   string
		status int
		header http.Header
		res    string
	}{
		"field missing":              {get("/api/v1/workspace", "atr_x"), "", 200, rate, `{"id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","name":"n","slug":"s"}`},
		"field added":                {get("/api/v1/workspace", "atr_x"), "", 200, rate, strings.TrimSuffix(ws, "}") + `,"extra":1}`},
		"tier unknown":               {get("/api/v1/workspace", "atr_x"), "", 200, rate, strings.Replace(ws, "free", "gold", 1)},
		"RateLimit header missing":   {get("/api/v1/workspace", "atr_x"), "", 200, without(rate, "Ratelimit-Remaining"), ws},
		"status undocumented":        {get("/api/v1/workspace", "atr_x"), "", 418, rate, `{"error":{"code":"teapot","message":"m"}}`},
		"error code undocumented":    {get("/api/v1/agents/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "atr_x"), "", 404, rate, `{"error":{"code":"gone","message":"m"}}`},
		"429 without Retry-After":    {get("/api/v1/usage", "atr_x"), "", 429, rate, `{"error":{"code":"rate_limited","message":"m"}}`},
		"no key, served":             {get("/api/v1/workspace", ""), "", 200, rate, ws},
		"bad body, served":           {httptest.NewRequest("POST", "http://atrium.test/api/v1/agents", nil), `{"nom":"x"}`, 201, rate, `{}`},
		"unknown path, served":       {get("/api/v1/nothing", "atr_x"), "", 200, rate, `{}`},
		"unknown path, not an error": {get("/api/v1/nothing", "atr_x"), "", 404, rate, `not found`},
	} {
		if tc.body != "" {
			tc.req.Header.Set("Authorization", "Bearer atr_x")
			tc.req.Header.Set("Content-Type", "application/json")
		}
		if err := cc.check(tc.req, []byte(tc.body), tc.status, tc.header, []byte(tc.res)); err == nil {
			t.Errorf("%s: the checker lets it pass", name)
		}
	}
}

// TestAPIReferencePageRendersTheDocument: the console's API reference shows every operation of
// the document with its responses, with no script from elsewhere, and the console links to it
// from the user menu and the keys page.
func TestAPIReferencePageRendersTheDocument(t *testing.T) {
	cc, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("reader"))
	ws := app.Workspace(owner, webtest.UniqueSlug("reader"))
	for name, c := range map[string]*webtest.Client{"anonymous": app.Client(), "signed in": app.Login(owner.Email)} {
		res := c.Get(paths.APIReference.URL())
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", name, res.StatusCode)
		}
		doc := res.Doc()
		shown := map[string]int{}
		doc.Find(`[data-testid="api-operation"]`).Each(func(_ int, s *goquery.Selection) {
			m, _ := s.Attr("data-method")
			p, _ := s.Attr("data-path")
			shown[m+" "+p] = s.Find(`[data-testid="api-response"]`).Length()
		})
		ops := 0
		for p, item := range cc.doc.Paths.Map() {
			for method, op := range item.Operations() {
				ops++
				if n, ok := shown[method+" "+p]; !ok || n != op.Responses.Len() {
					t.Errorf("%s: %s %s shown %v with %d responses, want %d", name, method, p, ok, n, op.Responses.Len())
				}
			}
		}
		if ops < 12 || len(shown) != ops {
			t.Errorf("%s: %d operations shown, %d in the document", name, len(shown), ops)
		}
		if href, _ := doc.Find(`[data-testid="api-spec-link"]`).Attr("href"); href != paths.APIOpenAPI.URL() {
			t.Errorf("%s: link to the document %q", name, href)
		}
		if !strings.Contains(res.Body, "rate_limited") || !strings.Contains(res.Body, "RateLimit-Remaining") || doc.Find(`#schema-Task`).Length() != 1 {
			t.Errorf("%s: the page lacks error codes, headers or the Task schema", name)
		}
		doc.Find("script[src]").Each(func(_ int, s *goquery.Selection) {
			if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") {
				t.Errorf("%s: script from %q", name, src)
			}
		})
		if strings.Contains(res.Body, "https://") {
			t.Errorf("%s: the page refers to another site", name)
		}
		if name == "signed in" {
			if href, _ := doc.Find(`[data-testid="user-menu"] [data-testid="api-reference-link"]`).Attr("href"); href != paths.APIReference.URL() {
				t.Errorf("user menu link %q", href)
			}
			keys := c.Get(paths.Keys.URL(ws.Slug))
			if href, _ := keys.Doc().Find(`[data-testid="keys-api-reference"]`).Attr("href"); href != paths.APIReference.URL() {
				t.Errorf("keys page link %q", href)
			}
		}
	}
}

// The audit export's NDJSON stream: the document describes it as text, one AuditEvent per line;
// the checker reads it as such, refusing a line that is not a JSON object.
func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var m map[string]any
			if line != "" || len(b) > 0 {
				if err := json.Unmarshal([]byte(line), &m); err != nil || m == nil {
					return nil, fmt.Errorf("NDJSON line %d is not a JSON object: %q", i+1, line)
				}
			}
		}
		return string(b), nil
	})
}
