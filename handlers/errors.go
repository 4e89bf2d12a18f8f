package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
	// URL, on a refusal that a person can act on in the console, is the page where they can (the
	// running tasks, for concurrent_task_limit).
	URL string `json:"url,omitempty"`
}

// codedError is an answer decided at the edge (a malformed body, a bad parameter, a missing key):
// its status, API code and message are final.
type codedError struct {
	Status  int
	Code    string
	Message string
}

func (e *codedError) Error() string { return e.Message }

// answer is how one kind of domain error is answered, on the console and the API alike.
type answer struct {
	kind   error // one of the models' sentinel errors
	status int
	code   string
	// message is said when the error carries no message of its own (a *models.Error does).
	message string
}

// domainAnswers is the one table from the models' errors to (HTTP status, API code, message).
// The first row whose kind the error is wins. Typed errors that carry their own detail
// (ValidationError, QuotaError, PageError) are answered in classify, before this table.
var domainAnswers = []answer{
	{models.ErrNotFound, http.StatusNotFound, "not_found", "Not found."},
	{models.ErrForbidden, http.StatusForbidden, "forbidden", "Your role does not allow this."},
	{models.ErrUnverified, http.StatusForbidden, "email_unverified", "Confirm your email address first."},
	{models.ErrLinkInvalid, http.StatusGone, "link_invalid", "This link has expired or was already used. Ask for a new one."},
	{models.ErrConflict, http.StatusConflict, "conflict", "Someone else changed this at the same moment. Reload and try again."},
	{models.ErrLimitReached, http.StatusConflict, "limit_reached", "Your tier's limit is reached."},
	{models.ErrBadKey, http.StatusUnauthorized, "unauthorized", errBadKey.Message},
}

// internalMessage is what a server error says; the details go to the log.
const internalMessage = "Something went wrong on our side. It has been logged; please try again."

// classify maps an error to a status, an API code and a message fit to show: the one mapping
// behind every error answer, HTML or JSON.
func classify(err error) (status int, code, msg string) {
	var he *echo.HTTPError
	var ce *codedError
	var ve *models.ValidationError
	var qe *models.QuotaError
	var pe *models.PageError
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
		return http.StatusUnprocessableEntity, "invalid", validationMessage(ve)
	case errors.As(err, &qe):
		switch qe.Code {
		case models.CodeQuotaExceeded:
			return http.StatusPaymentRequired, qe.Code, qe.Message
		case models.CodeIPNotAllowed:
			return http.StatusForbidden, qe.Code, qe.Message
		}
		return http.StatusTooManyRequests, qe.Code, qe.Message
	case errors.As(err, &pe):
		return http.StatusBadRequest, "invalid_page", pe.Message
	case errors.Is(err, context.Canceled):
		return 499, "canceled", "The request was canceled."
	}
	for _, a := range domainAnswers {
		if errors.Is(err, a.kind) {
			msg = a.message
			var me *models.Error
			if errors.As(err, &me) && me.Message != "" {
				msg = sentence(me.Message)
			}
			return a.status, a.code, msg
		}
	}
	return http.StatusInternalServerError, "internal", internalMessage
}

// validationMessage lists the fields' messages in the order they were found: "name: …; slug: …."
func validationMessage(ve *models.ValidationError) string {
	keys := ve.Keys()
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+strings.TrimSuffix(ve.Fields[k], "."))
	}
	return fullStop(strings.Join(parts, "; "))
}

// sentence starts msg with a capital and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	return fullStop(string(unicode.ToUpper(r)) + msg[n:])
}

// fullStop ends msg with a full stop unless it ends a sentence already.
func fullStop(msg string) string {
	if msg == "" || strings.HasSuffix(msg, ".") || strings.HasSuffix(msg, "?") || strings.HasSuffix(msg, "!") {
		return msg
	}
	return msg + "."
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
	var qe *models.QuotaError
	if errors.As(err, &qe) {
		s.refused(qe.Code)
		if qe.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(qe.RetryAfter)), 10))
		}
	}
	if status >= 500 {
		s.Log.Error("request failed", "error", err.Error(), "path", c.Request().URL.Path, "request_id", requestID(c))
	}
	if status == 499 {
		return
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		body := apiErrorBody{Code: code, Message: msg}
		if caller := apiCaller(c); caller != nil && code == models.CodeConcurrentTaskLimit && caller.WorkspaceSlug != "" {
			body.URL = s.link(runningTasksURL(caller.WorkspaceSlug))
		}
		_ = c.JSON(status, apiError{body})
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
	vm := views.ErrorPage{Status: status, Heading: heading, Message: msg,
		Unverified: errors.Is(err, models.ErrUnverified), MailOff: !s.mailReady()}
	// Inside a workspace the page keeps the workspace's frame; a role's refusal says who may.
	if f.Workspace == nil || status >= 500 {
		f.Workspace = nil
	} else if a, ok := c.Get(ctxRefused).(models.Action); ok && status == http.StatusForbidden {
		vm.Allowed, vm.Holders, vm.More = s.whoMay(c, a)
	}
	vm.Frame = f
	_ = s.render(c, status, views.ErrorView(vm), nil)
}

// refusedGoBack sends a console POST that a rule of the domain refused (a conflict, a gone link, a
// limit, a bad value) back to the page it was sent from, with the reason as the flash, instead of
// an error page answering the POST: every console form without JavaScript ends in a redirect. The
// page is the Referer, which the same-origin Referrer-Policy sends on this site only; without one
// (or for htmx, a missing page, a refused role, a server error) the error handler answers as ever.
// It runs inside the session middleware, so the flash is saved.
func (s *Server) refusedGoBack(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		r := c.Request()
		if err == nil || c.Response().Committed || r.Method != http.MethodPost || isHTMX(c) {
			return err
		}
		status, _, msg := classify(err)
		switch status {
		case http.StatusConflict, http.StatusGone, http.StatusPaymentRequired, http.StatusUnprocessableEntity, http.StatusTooManyRequests:
		default:
			return err
		}
		ref, perr := url.Parse(r.Referer())
		if perr != nil || ref.Host != r.Host || (ref.Scheme != "http" && ref.Scheme != "https") {
			return err
		}
		back := safeNext(ref.RequestURI(), "")
		if back == "" {
			return err
		}
		var qe *models.QuotaError
		if errors.As(err, &qe) {
			s.refused(qe.Code)
			if qe.RetryAfter > 0 {
				c.Response().Header().Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(qe.RetryAfter)), 10))
			}
		}
		s.flashError(c, msg)
		return c.Redirect(http.StatusSeeOther, back)
	}
}

// whoMay says which roles may do a ("Owners and admins") and names the workspace's members who
// hold them (at most ten, with how many more).
func (s *Server) whoMay(c echo.Context, a models.Action) (roles string, holders []string, more int) {
	allowed := models.RolesFor(a)
	labels := make([]string, 0, len(allowed))
	for _, r := range allowed {
		labels = append(labels, r.Label()+"s")
	}
	switch len(labels) {
	case 0:
		return "", nil, 0
	case 1:
		roles = "Only " + strings.ToLower(labels[0])
	default:
		roles = strings.Join(labels[:len(labels)-1], ", ") + " and " + strings.ToLower(labels[len(labels)-1])
		roles = roles[:1] + strings.ToLower(roles[1:])
	}
	const shown = 10
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		list, err := models.RoleHolders(ctx, tn, allowed, 1000)
		if err != nil {
			return err
		}
		more = max(0, len(list)-shown)
		for i, m := range list {
			if i == shown {
				break
			}
			name := m.Role.Label()
			if m.User != nil {
				name = m.User.DisplayName() + " (" + m.Role.Label() + ")"
			}
			holders = append(holders, name)
		}
		return nil
	})
	if err != nil {
		s.Log.Warn("who may", "error", err)
	}
	return roles, holders, more
}
