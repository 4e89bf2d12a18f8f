package handlers

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"atrium/handlers/openapi"
	"atrium/handlers/paths"
	"atrium/views"
)

// apiOpenAPI serves the API's contract, the embedded OpenAPI document, without a key.
func (s *Server) apiOpenAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openapi.JSON)
}

// apiReference renders the OpenAPI document as a page of the console.
func (s *Server) apiReference(c echo.Context) error {
	doc, err := openapi.Doc()
	if err != nil {
		return err
	}
	vm := apiReferenceOf(doc)
	vm.Frame = s.frame(c, "API reference", "")
	return s.render(c, http.StatusOK, views.APIReferenceView(vm), nil)
}

// apiReferenceOf makes the document into the page's view model: the operations by tag, in the
// document's tag order, then path and method; the named schemas; the response headers.
func apiReferenceOf(doc *openapi3.T) views.APIReferencePage {
	vm := views.APIReferencePage{Title: doc.Info.Title, Version: doc.Info.Version,
		Description: views.Parts(doc.Info.Description), SpecURL: paths.APIOpenAPI.URL()}
	if doc.Components != nil {
		for _, name := range sortedKeys(doc.Components.SecuritySchemes) {
			if ss := doc.Components.SecuritySchemes[name].Value; ss != nil {
				vm.Auth = views.Parts("`Authorization: Bearer " + ss.BearerFormat + "`. " + ss.Description)
			}
		}
	}
	groups := map[string]*views.APIGroup{}
	var order []string
	for _, t := range doc.Tags {
		groups[t.Name] = &views.APIGroup{Name: t.Name, Description: views.Parts(t.Description)}
		order = append(order, t.Name)
	}
	docPaths := doc.Paths.Keys()
	sort.Strings(docPaths)
	for _, p := range docPaths {
		item := doc.Paths.Value(p)
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			g := groups[tag]
			if g == nil {
				g = &views.APIGroup{Name: tag}
				groups[tag] = g
				order = append(order, tag)
			}
			g.Ops = append(g.Ops, operationOf(method, p, op))
		}
	}
	for _, name := range order {
		if g := groups[name]; len(g.Ops) > 0 {
			vm.Groups = append(vm.Groups, *g)
		}
	}
	if doc.Components != nil {
		for _, name := range sortedKeys(doc.Components.Schemas) {
			if strings.HasPrefix(name, "Error") {
				continue // each error response lists its codes where it is used
			}
			vm.Schemas = append(vm.Schemas, schemaOf(name, doc.Components.Schemas[name].Value))
		}
		seen := map[string]bool{}
		for _, name := range sortedKeys(doc.Components.Headers) {
			h := doc.Components.Headers[name].Value
			name = strings.TrimSuffix(name, "-Optional")
			if h != nil && !seen[name] {
				seen[name] = true
				vm.Headers = append(vm.Headers, views.APIHeader{Name: name, Description: views.Parts(h.Description)})
			}
		}
	}
	return vm
}

func operationOf(method, path string, op *openapi3.Operation) views.APIOperation {
	o := views.APIOperation{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary,
		Description: views.Parts(op.Description)}
	if op.Security == nil || len(*op.Security) > 0 {
		o.Scope, _ = op.Extensions["x-atrium-scope"].(string)
		if o.Scope == "" {
			o.Scope = "any"
		}
	}
	for _, pr := range op.Parameters {
		if p := pr.Value; p != nil {
			o.Params = append(o.Params, views.APIParam{Name: p.Name, In: p.In, Type: typeOf(p.Schema),
				Required: p.Required, Description: views.Parts(p.Description)})
		}
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get(echo.MIMEApplicationJSON); mt != nil && mt.Schema != nil {
			o.Body = refName(mt.Schema.Ref)
		}
	}
	if op.Responses != nil {
		statuses := op.Responses.Keys()
		sort.Strings(statuses)
		for _, status := range statuses {
			r := op.Responses.Value(status).Value
			if r == nil {
				continue
			}
			resp := views.APIResponse{Status: status, Description: views.Parts(deref(r.Description))}
			if mt := r.Content.Get(echo.MIMEApplicationJSON); mt != nil && mt.Schema != nil {
				if name := refName(mt.Schema.Ref); !strings.HasPrefix(name, "Error") {
					resp.Schema = name
				}
				resp.Codes = errorCodes(mt.Schema.Value)
			}
			resp.Headers = sortedKeys(r.Headers)
			o.Responses = append(o.Responses, resp)
		}
	}
	return o
}

// errorCodes lists the codes an error body's schema allows (error.code's enumeration).
func errorCodes(s *openapi3.Schema) []string {
	if s == nil {
		return nil
	}
	e := s.Properties["error"]
	if e == nil || e.Value == nil || e.Value.Properties["code"] == nil || e.Value.Properties["code"].Value == nil {
		return nil
	}
	var out []string
	for _, v := range e.Value.Properties["code"].Value.Enum {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func schemaOf(name string, s *openapi3.Schema) views.APISchema {
	out := views.APISchema{Name: name}
	if s == nil {
		return out
	}
	out.Description = views.Parts(s.Description)
	for _, v := range s.Enum {
		if str, ok := v.(string); ok {
			out.Values = append(out.Values, str)
		}
	}
	out.Fields = fieldsOf(s, 0)
	return out
}

// fieldsOf lists an object's properties in the order of its required list, then the rest by name;
// an inline nested object's fields follow it one level deeper.
func fieldsOf(s *openapi3.Schema, depth int) []views.APIField {
	var out []views.APIField
	names := append([]string(nil), s.Required...)
	var rest []string
	for name := range s.Properties {
		if !slices.Contains(names, name) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range append(names, rest...) {
		ref := s.Properties[name]
		if ref == nil {
			continue
		}
		f := views.APIField{Name: name, Type: typeOf(ref), Ref: refName(ref.Ref), Required: slices.Contains(s.Required, name), Depth: depth}
		if ref.Value != nil {
			f.Description = views.Parts(ref.Value.Description)
		}
		out = append(out, f)
		if ref.Ref == "" && ref.Value != nil && ref.Value.Type.Is(openapi3.TypeObject) && depth < 3 {
			out = append(out, fieldsOf(ref.Value, depth+1)...)
		}
	}
	return out
}

// typeOf names a schema's type as a reader wants it: "string (uuid)", "integer or null",
// "array of Agent", a schema's name, the values of an enumeration.
func typeOf(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	if name := refName(ref.Ref); name != "" {
		return name
	}
	s := ref.Value
	if s == nil {
		return ""
	}
	if s.Type.Is(openapi3.TypeArray) && s.Items != nil {
		return "array of " + typeOf(s.Items)
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, v := range s.Enum {
			if str, ok := v.(string); ok {
				vals = append(vals, str)
			}
		}
		return strings.Join(vals, " | ")
	}
	t := strings.Join(s.Type.Slice(), " or ")
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return t
}

// refName is the schema name of a local reference ("#/components/schemas/Agent" → "Agent").
func refName(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 && strings.HasPrefix(ref, "#/components/schemas/") {
		return ref[i+1:]
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
