package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// TestRenderSendsWholePagesOnly: a page goes out in one piece with its length, and a template that
// fails halfway sends none of what it wrote: the error page answers, with the error's status.
func TestRenderSendsWholePagesOnly(t *testing.T) {
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}
	e := echo.New()
	big := strings.Repeat("<p>row</p>", 5000) // 50 KB: many times the connection's write buffer
	ok := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, big)
		return err
	})
	rec := httptest.NewRecorder()
	if err := s.render(e.NewContext(httptest.NewRequest(http.MethodGet, "/w/acme", nil), rec), http.StatusOK, ok, nil); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || rec.Body.String() != big || rec.Header().Get("Content-Length") != strconv.Itoa(len(big)) {
		t.Fatalf("page: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}

	failing := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, _ = io.WriteString(w, "<h1>half a page")
		return errors.New("template: the data ran out")
	})
	rec = httptest.NewRecorder()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/w/acme", nil), rec)
	err := s.render(c, http.StatusOK, failing, nil)
	if err == nil {
		t.Fatal("a failing template rendered without an error")
	}
	if c.Response().Committed || rec.Body.Len() != 0 {
		t.Fatalf("a failing template sent %d bytes: %q", rec.Body.Len(), rec.Body.String())
	}
	s.handleError(err, c)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "half a page") {
		t.Fatalf("after a failing template: %d %q", rec.Code, rec.Body.String())
	}
}

// TestJSONSendsWholeAnswers: a JSON answer goes out in one piece with its length (not chunked
// through the connection's buffer), and a value that cannot be encoded sends nothing of itself.
func TestJSONSendsWholeAnswers(t *testing.T) {
	e := echo.New()
	e.JSONSerializer = wholeJSON{}
	rows := make([]map[string]string, 200) // about 8 KB: twice the connection's write buffer
	for i := range rows {
		rows[i] = map[string]string{"id": strconv.Itoa(i), "name": strings.Repeat("n", 20)}
	}
	rec := httptest.NewRecorder()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/api/v1/agents", nil), rec)
	if err := c.JSON(http.StatusOK, map[string]any{"data": rows}); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) || rec.Body.Len() < 8000 ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("answer: %d, %d bytes, Content-Length %q, %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"), rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	c = e.NewContext(httptest.NewRequest(http.MethodGet, "/api/v1/agents", nil), rec)
	if err := c.JSON(http.StatusOK, map[string]any{"data": rows, "bad": func() {}}); err == nil {
		t.Fatal("a value that cannot be encoded was encoded")
	}
	if c.Response().Committed || rec.Body.Len() != 0 {
		t.Fatalf("a failed encoding sent %d bytes", rec.Body.Len())
	}
}
