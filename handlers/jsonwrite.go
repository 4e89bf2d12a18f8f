package handlers

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/labstack/echo/v4"
)

// wholeJSON is echo's JSON serializer for every answer of the server: the value is encoded into a
// pooled buffer and sent in one write with its Content-Length, as pages are (render). echo's
// default encodes straight into the connection's 4 KiB buffer, so a list of fifty agents goes out
// as a chunked answer in several writes; and a value that fails to encode halfway sends nothing.
type wholeJSON struct{ echo.DefaultJSONSerializer }

func (wholeJSON) Serialize(c echo.Context, i any, indent string) error {
	buf := pageBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledPage {
			pageBuffers.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(i); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	_, err := c.Response().Write(buf.Bytes())
	return err
}
