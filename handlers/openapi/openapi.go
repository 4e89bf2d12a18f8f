// Package openapi holds the JSON API's contract: an OpenAPI 3.1 document (openapi.json), embedded
// into the binary, served at /api/v1/openapi.json and rendered as the console's API reference.
// It is the source of truth for the API: the handlers' tests validate every request and response
// they exchange against it, and fail when a route of the router has no operation in it or the
// reverse.
package openapi

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// JSON is the document, as served.
//
//go:embed openapi.json
var JSON []byte

// Load parses the document and checks it against the OpenAPI specification.
func Load() (*openapi3.T, error) {
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(JSON)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// Doc is the document, loaded once.
var Doc = sync.OnceValues(Load)

// RouterPattern turns a document path ("/api/v1/tasks/{id}") into the router's form
// ("/api/v1/tasks/:id").
func RouterPattern(docPath string) string {
	segs := strings.Split(docPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(segs, "/")
}
