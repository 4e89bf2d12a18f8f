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
