package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/models"
	"atrium/views"
)

// apiError is the JSON API's error body.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// codedError carries an API error code with its status.
type codedError struct {
	Status  int
	Code    string
	Message string
}

func (e *codedError) Error() string { return e.Message }

// classify maps an error to a status, an API code and a message fit to show.
func classify(err error) (status int, code, msg string) {
	var he *echo.HTTPError
	var ce *codedError
	var me *models.Error
	var ve *models.ValidationError
	switch {
	case errors.As(err, &ce):
		return ce.Status, ce.Code, ce.Message
	case errors.As(err, &he):
		msg, _ := he.Message.(string)
		if msg == "" || he.Internal != nil && msg == http.StatusText(he.Code) {
			msg = http.StatusText(he.Code)
		}
		return he.Code, strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")), msg
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, "invalid", ve.Error()
	case errors.Is(err, models.ErrNotFound):
		return http.StatusNotFound, "not_found", "Not found."
	case errors.Is(err, models.ErrForbidden):
		msg = "Your role does not allow this."
		if errors.As(err, &me) {
			msg = me.Message
		}
		return http.StatusForbidden, "forbidden", msg
	case errors.Is(err, models.ErrConflict):
		msg = "Someone else changed this at the same moment. Reload and try again."
		if errors.As(err, &me) {
			msg = me.Message
		}
		return http.StatusConflict, "conflict", msg
	case errors.Is(err, models.ErrLimitReached):
		msg = "Your tier's limit is reached."
		if errors.As(err, &me) {
			msg = me.Message
		}
		return http.StatusConflict, "limit_reached", msg
	case errors.Is(err, context.Canceled):
		return 499, "canceled", "The request was canceled."
	}
	return http.StatusInternalServerError, "internal", "Something went wrong on our side. It has been logged; please try again."
}

var headings = map[int]string{
	http.StatusNotFound:            "Page not found",
	http.StatusForbidden:           "Not allowed",
	http.StatusTooManyRequests:     "Slow down",
	http.StatusInternalServerError: "Something went wrong",
}

// handleError is echo's one error handler: it logs server errors with the request id and answers
// JSON under /api and a friendly page elsewhere.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := classify(err)
	if status >= 500 {
		s.Log.Error("request failed", "error", err.Error(), "path", c.Request().URL.Path, "request_id", requestID(c))
	}
	if status == 499 {
		return
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		_ = c.JSON(status, apiError{apiErrorBody{Code: code, Message: msg}})
		return
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Reswap", "none")
		_ = c.String(status, msg)
		return
	}
	heading := headings[status]
	if heading == "" {
		heading = http.StatusText(status)
	}
	if status == http.StatusNotFound {
		msg = "There is nothing here, or you don't have access to it."
	}
	f := s.frame(c, heading, "")
	f.Workspace = nil
	_ = s.render(c, status, views.ErrorView(views.ErrorPage{Frame: f, Status: status, Heading: heading, Message: msg}), nil)
}
