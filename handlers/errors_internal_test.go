package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/models"
)

// TestOneErrorTable: every domain error gets one status, code and message, and the console (an
// htmx request) and the API answer it alike.
func TestOneErrorTable(t *testing.T) {
	var ve models.ValidationError
	ve.Add("slug", "Use lowercase letters.")
	ve.Add("name", "must be 1–120 characters")
	ve.Add("email", "Enter a valid email address.")
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"not found, bare", fmt.Errorf("load: %w", models.ErrNotFound), 404, "not_found", "Not found."},
		{"not found, with a message", fmt.Errorf("load: %w", models.Errorf(models.ErrNotFound, "agent not found")), 404, "not_found", "Agent not found."},
		{"forbidden, bare", models.ErrForbidden, 403, "forbidden", "Your role does not allow this."},
		{"forbidden, with a message", models.Errorf(models.ErrForbidden, "Viewers can't create API keys."), 403, "forbidden", "Viewers can't create API keys."},
		{"conflict", fmt.Errorf("tx: %w", models.ErrConflict), 409, "conflict", "Someone else changed this at the same moment. Reload and try again."},
		{"limit reached", models.Errorf(models.ErrLimitReached, "The free tier has 3 seats"), 409, "limit_reached", "The free tier has 3 seats."},
		{"bad key", models.ErrBadKey, 401, "unauthorized", errBadKey.Message},
		{"validation, in field order", fmt.Errorf("create: %w", &ve), 422, "invalid",
			"slug: Use lowercase letters; name: must be 1–120 characters; email: Enter a valid email address."},
		{"quota exceeded", &models.QuotaError{Code: models.CodeQuotaExceeded, Message: "Upgrade for more."}, 402, models.CodeQuotaExceeded, "Upgrade for more."},
		{"rate limited", &models.QuotaError{Code: models.CodeRateLimited, Message: "Slow down.", RetryAfter: 1500 * time.Millisecond}, 429, models.CodeRateLimited, "Slow down."},
		{"bad page", &models.PageError{Message: "cursor is not one this API gave out"}, 400, "invalid_page", "cursor is not one this API gave out"},
		{"edge", &codedError{Status: 400, Code: "invalid_parameter", Message: "Bad."}, 400, "invalid_parameter", "Bad."},
		{"unknown", errors.New("driver: connection reset"), 500, "internal", internalMessage},
	}
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := echo.New()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg := classify(tc.err)
			if status != tc.status || code != tc.code || msg != tc.msg {
				t.Fatalf("classify: %d %q %q, want %d %q %q", status, code, msg, tc.status, tc.code, tc.msg)
			}
			api := httptest.NewRecorder()
			s.handleError(tc.err, e.NewContext(httptest.NewRequest(http.MethodPost, "/api/v1/agents", nil), api))
			var body apiError
			if err := json.Unmarshal(api.Body.Bytes(), &body); err != nil || api.Code != tc.status || body.Error.Code != tc.code || body.Error.Message != tc.msg {
				t.Fatalf("API: %d %s", api.Code, api.Body)
			}
			req := httptest.NewRequest(http.MethodPost, "/w/acme/agents", nil)
			req.Header.Set("HX-Request", "true")
			console := httptest.NewRecorder()
			s.handleError(tc.err, e.NewContext(req, console))
			if console.Code != tc.status || console.Body.String() != tc.msg {
				t.Fatalf("console: %d %q", console.Code, console.Body)
			}
			if qe := (*models.QuotaError)(nil); errors.As(tc.err, &qe) && qe.RetryAfter > 0 {
				if api.Header().Get("Retry-After") != "2" || console.Header().Get("Retry-After") != "2" {
					t.Fatalf("Retry-After %q / %q, want 2", api.Header().Get("Retry-After"), console.Header().Get("Retry-After"))
				}
			}
		})
	}
}
