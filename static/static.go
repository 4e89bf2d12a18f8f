// Package static embeds the built stylesheet, the vendored htmx and the small app script.
package static

import "embed"

// FS holds css/ and js/.
//
//go:embed css js
var FS embed.FS
