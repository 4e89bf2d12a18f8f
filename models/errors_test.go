package models_test

import (
	"slices"
	"testing"

	"atrium/models"
)

// TestValidationMessagesKeepFieldOrder: the fields come out in the order they were added, on every
// call (a map's order would differ from run to run), then fields set directly, by name.
func TestValidationMessagesKeepFieldOrder(t *testing.T) {
	fields := []string{"slug", "name", "email", "password", "role", "tier", "confirm", "avatar"}
	var v models.ValidationError
	for _, f := range fields {
		v.Add(f, "bad "+f)
	}
	v.Add("slug", "a second message is dropped")
	v.Fields["zeta"], v.Fields["alpha"] = "set directly", "set directly"
	want := "invalid input: slug: bad slug; name: bad name; email: bad email; password: bad password; " +
		"role: bad role; tier: bad tier; confirm: bad confirm; avatar: bad avatar; alpha: set directly; zeta: set directly"
	for range 50 {
		if got := v.Error(); got != want {
			t.Fatalf("got  %q\nwant %q", got, want)
		}
	}
	if got := v.Keys(); !slices.Equal(got, append(fields, "alpha", "zeta")) {
		t.Fatalf("keys %v", got)
	}
	if one := models.Invalid("name", "too long"); one.Error() != "invalid input: name: too long" || one.Err() == nil {
		t.Fatalf("Invalid: %q", one.Error())
	}
}

func TestTextProblem(t *testing.T) {
	for _, tc := range []struct {
		s               string
		line, multiline bool // acceptable as one line, as free text
	}{
		{"Acme GmbH — Zürich 🚀", true, true},
		{"", true, true},
		{"a\x00b", false, false},
		{"a\x1bb", false, false},
		{"a\x7fb", false, false},
		{"a\u0085b", false, false}, // a C1 control
		{"a\xffb", false, false},
		{"\xc3", false, false}, // a cut multi-byte sequence
		{"line\nbreak", false, true},
		{"tab\there", false, true},
		{"crlf\r\n", false, true},
	} {
		if got := models.TextProblem(tc.s, false) == ""; got != tc.line {
			t.Errorf("%q as a line: acceptable %v, want %v", tc.s, got, tc.line)
		}
		if got := models.TextProblem(tc.s, true) == ""; got != tc.multiline {
			t.Errorf("%q as free text: acceptable %v, want %v", tc.s, got, tc.multiline)
		}
		if models.ValidLine(tc.s) != tc.line {
			t.Errorf("ValidLine(%q) != %v", tc.s, tc.line)
		}
	}
	if _, ok := models.NormalizeEmail("a\x00@example.com"); ok {
		t.Error("an email with a NUL is accepted")
	}
}
