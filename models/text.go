package models

import (
	"unicode"
	"unicode/utf8"
)

// Text rules. Every piece of text Atrium stores or looks up is valid UTF-8 without NUL or other
// control characters (PostgreSQL refuses NUL in text, and control characters in a name only
// serve to disguise it). Free text (a task's input, a message's body) may also hold line breaks
// and tabs; a name, an email or a search is one line.

// TextProblem returns a user-facing reason s is not acceptable text, or "" when it is. multiline
// allows tab, line feed and carriage return.
func TextProblem(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "Use valid UTF-8 text."
	}
	for _, r := range s {
		if multiline && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			if multiline {
				return "Remove the control characters (only line breaks and tabs are allowed)."
			}
			return "Remove the control characters: use one line of plain text."
		}
	}
	return ""
}

// ValidLine reports whether s is one line of acceptable text (see TextProblem).
func ValidLine(s string) bool { return TextProblem(s, false) == "" }
