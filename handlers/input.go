package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"atrium/models"
)

// Input at the edge. Text reaches the models only as valid UTF-8 without NUL or other control
// characters (see models.TextProblem): query parameters and path segments are checked here for
// every route, JSON bodies in decodeJSON, and form fields by the models' validation of each
// field, which re-renders the form with the field's message.

// checkParams refuses a request whose query parameters or path parameters are not one line of
// acceptable text, naming the parameter: 400, never a query the database rejects.
func checkParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, name := range c.ParamNames() {
			if !models.ValidLine(c.Param(name)) {
				return badParam(name)
			}
		}
		if c.Request().URL.RawQuery == "" {
			return next(c)
		}
		for name, values := range c.QueryParams() {
			if !models.ValidLine(name) {
				return badParam(strconv.QuoteToASCII(name))
			}
			for _, v := range values {
				if !models.ValidLine(v) {
					return badParam(name)
				}
			}
		}
		return next(c)
	}
}

func badParam(name string) error {
	return &codedError{Status: http.StatusBadRequest, Code: "invalid_parameter",
		Message: fmt.Sprintf("The parameter %s must be valid UTF-8 text without control characters.", name)}
}

// scanJSON walks a body's first JSON value and refuses duplicate keys and strings (keys and
// values) that are not valid UTF-8 or hold control characters other than line breaks and tabs,
// naming the field. Syntax errors are left to the strict decoder, which names them better.
func scanJSON(body []byte) *codedError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		keys    map[string]bool
		key     string // the key whose value comes next (objects)
		wantKey bool
		index   int // the next element's index (arrays)
		path    string
	}
	var stack []*frame
	// here names the value about to be read.
	here := func() string {
		if len(stack) == 0 {
			return "(body)"
		}
		f := stack[len(stack)-1]
		if f.object {
			if f.path == "" {
				return f.key
			}
			return f.path + "." + f.key
		}
		return f.path + "[" + strconv.Itoa(f.index) + "]"
	}
	// done moves the enclosing container past the value just read.
	done := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.object {
			f.wantKey = true
		} else {
			f.index++
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		raw := body[start:dec.InputOffset()]
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				path := ""
				if len(stack) > 0 {
					path = here()
				}
				stack = append(stack, &frame{object: t == '{', keys: map[string]bool{}, wantKey: true, path: path})
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return nil
				}
				done()
				continue
			}
		case string:
			if top := last(stack); top != nil && top.object && top.wantKey {
				top.key, top.wantKey = t, false
				name := here()
				if !utf8.Valid(raw) || models.TextProblem(t, false) != "" {
					return &codedError{Status: http.StatusBadRequest, Code: "invalid_text",
						Message: fmt.Sprintf("The field name %s must be valid UTF-8 text without control characters.", strconv.QuoteToASCII(name))}
				}
				if top.keys[t] {
					return &codedError{Status: http.StatusBadRequest, Code: "duplicate_field",
						Message: fmt.Sprintf("Field %s appears more than once.", name)}
				}
				top.keys[t] = true
				continue
			}
			if !utf8.Valid(raw) {
				return &codedError{Status: http.StatusBadRequest, Code: "invalid_text",
					Message: fmt.Sprintf("Field %s is not valid UTF-8.", here())}
			}
			if models.TextProblem(t, true) != "" {
				return &codedError{Status: http.StatusBadRequest, Code: "invalid_text",
					Message: fmt.Sprintf("Field %s holds control characters; text may hold only line breaks and tabs besides printable characters.", here())}
			}
		}
		if len(stack) == 0 {
			return nil // a lone scalar: the decoder refuses it
		}
		done()
	}
}

func last[T any](s []*T) *T {
	if len(s) == 0 {
		return nil
	}
	return s[len(s)-1]
}

// originOf returns the scheme://host[:port] of an absolute http(s) URL.
func originOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an absolute http(s) address like https://atrium.example.com", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}
