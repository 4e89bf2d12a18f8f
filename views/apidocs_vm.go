package views

import (
	"strings"

	"atrium/views/layouts"
)

// APIReferencePage is the API reference: the OpenAPI document, rendered.
type APIReferencePage struct {
	layouts.Frame
	Title, Version string
	Description    []TextPart
	// SpecURL is where the document itself is served.
	SpecURL string
	// Auth describes the key the operations want.
	Auth    []TextPart
	Groups  []APIGroup
	Schemas []APISchema
	Headers []APIHeader
}

// TextPart is a run of a description: plain text, or code (between backticks in the document).
type TextPart struct {
	Text string
	Code bool
}

// Parts splits a description at its backticks.
func Parts(s string) []TextPart {
	var out []TextPart
	for i, p := range strings.Split(s, "`") {
		if p != "" {
			out = append(out, TextPart{Text: p, Code: i%2 == 1})
		}
	}
	return out
}

// APIGroup is one tag's operations.
type APIGroup struct {
	Name        string
	Description []TextPart
	Ops         []APIOperation
}

// APIOperation is one method on one path.
type APIOperation struct {
	ID, Method, Path, Summary string
	Description               []TextPart
	// Scope is the key scope the operation needs; "" when it needs no key.
	Scope     string
	Params    []APIParam
	Body      string // the request body's schema name, "" when there is none
	Responses []APIResponse
}

// APIParam is a path or query parameter.
type APIParam struct {
	Name, In, Type string
	Required       bool
	Description    []TextPart
}

// APIResponse is one documented answer of an operation.
type APIResponse struct {
	Status      string
	Description []TextPart
	Schema      string   // the body's schema name, "" for an inline one
	Codes       []string // the error codes it may carry
	Headers     []string
}

// APISchema is a named object of the document with its fields.
type APISchema struct {
	Name        string
	Description []TextPart
	// Values lists an enumeration's values (a schema without fields).
	Values []string
	Fields []APIField
}

// APIField is one property of an object; Depth > 0 for the fields of a nested object.
type APIField struct {
	Name, Type  string
	Ref         string // the schema the type names, when it names one
	Required    bool
	Depth       int
	Description []TextPart
}

// APIHeader is a response header of the document.
type APIHeader struct {
	Name        string
	Description []TextPart
}

// Anchor is an element id for a schema's section.
func (s APISchema) Anchor() string { return "schema-" + s.Name }

// SchemaAnchor is the fragment link to a schema's section.
func SchemaAnchor(name string) string { return "#schema-" + name }

// OpAnchor is the element id of an operation.
func (o APIOperation) Anchor() string { return "op-" + o.ID }

// MethodClass colours a method's badge.
func MethodClass(method string) string {
	if method == "GET" {
		return "bg-sky-100 text-sky-900"
	}
	return "bg-emerald-100 text-emerald-900"
}

// indent marks a nested field's level.
func indent(depth int) string { return strings.Repeat("└ ", 1) + strings.Repeat("  ", depth-1) }
