package handlers

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/models"
)

// ndjson is the media type of the audit export's stream: one JSON event per line.
const ndjson = "application/x-ndjson"

// wantsNDJSON reports whether the client asks for NDJSON (Accept: application/x-ndjson).
func wantsNDJSON(c echo.Context) bool {
	for _, part := range strings.Split(c.Request().Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == ndjson {
			return true
		}
	}
	return false
}

// auditPageJSON is a JSON page of the audit export. NextCursor is where the next call continues:
// present even on the last page, so a pull job keeps it and asks again later for what came since.
type auditPageJSON struct {
	Data       []models.AuditExportEvent `json:"data"`
	NextCursor *string                   `json:"next_cursor"`
	HasMore    bool                      `json:"has_more"`
}

// apiAudit exports the workspace's audit log in chain order, after cursor: a JSON page (one round
// trip), or with Accept: application/x-ndjson a stream of up to limit events, one per line, each
// with the cursor that continues after it.
func (s *Server) apiAudit(c echo.Context) error {
	stream := wantsNDJSON(c)
	max := models.AuditExportMaxLimit
	if stream {
		max = models.AuditStreamMaxLimit
	}
	after, limit, err := models.ParseAuditExport(c.QueryParam("limit"), c.QueryParam("cursor"), max)
	if err != nil {
		return err
	}
	if stream {
		return s.apiAuditStream(c, after, limit)
	}
	var evs []models.ChainEvent
	err = s.apiRead(c, func(ctx context.Context, r *models.TenantRead) (err error) {
		evs, err = models.ReadAuditExport(ctx, r, after, limit+1)
		return err
	})
	if err != nil {
		return err
	}
	out := auditPageJSON{Data: make([]models.AuditExportEvent, 0, len(evs))}
	if len(evs) > limit {
		evs, out.HasMore = evs[:limit], true
	}
	for i := range evs {
		out.Data = append(out.Data, evs[i].Export())
	}
	next := c.QueryParam("cursor")
	if len(evs) > 0 {
		next = models.AuditCursor(evs[len(evs)-1].Seq)
	}
	if next != "" {
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, out)
}

// apiAuditStream writes the events after seq as NDJSON, read a batch at a time (one round trip
// each), flushed as they go. The headers go with the first batch, so a failure before it is still
// a proper JSON error.
func (s *Server) apiAuditStream(c echo.Context, after int64, limit int) error {
	started := false
	start := func() {
		started = true
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, ndjson)
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
	}
	enc := json.NewEncoder(c.Response())
	for left := limit; left > 0; {
		var evs []models.ChainEvent
		err := s.apiRead(c, func(ctx context.Context, r *models.TenantRead) (err error) {
			evs, err = models.ReadAuditExport(ctx, r, after, min(left, models.AuditExportMaxLimit))
			return err
		})
		if err != nil {
			if started {
				s.Log.Warn("audit stream cut short", logAttr(err))
				return nil
			}
			return err
		}
		if !started {
			start()
		}
		for i := range evs {
			if err := enc.Encode(evs[i].Export()); err != nil {
				return nil // the client went away
			}
		}
		c.Response().Flush()
		if len(evs) < min(left, models.AuditExportMaxLimit) {
			break
		}
		left -= len(evs)
		after = evs[len(evs)-1].Seq
	}
	if !started {
		start()
	}
	return nil
}
