package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// exportPanel is the settings page's export section for the workspace's newest export (nil: none).
func (s *Server) exportPanel(c echo.Context, e *models.WorkspaceExport) views.ExportPanel {
	m := membership(c)
	p := views.ExportPanel{Slug: m.Slug, CSRF: s.csrfToken(c.Request().Context()), State: views.ExportNone}
	if e == nil {
		return p
	}
	now := s.Now()
	switch {
	case e.Building():
		p.State, p.Percent = views.ExportBuilding, e.Percent()
		p.RowsDone, p.RowsTotal = models.FormatCount(e.RowsDone), models.FormatCount(e.RowsTotal)
	case e.Downloadable(now):
		p.State = views.ExportReady
		p.DownloadURL, p.FileName, p.Size, p.SHA256 = paths.ExportDownload.URL(m.Slug, e.Token), e.FileName, byteSize(e.SizeBytes), e.SHA256
		p.Expires = *e.ExpiresAt
	case e.Status == models.ExportFailed:
		p.State, p.Error = views.ExportFailed, e.Error
	}
	return p
}

// byteSize says a size in bytes, KB or MB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// settingsExportStart starts an export of the workspace (owners), built in the background, and
// goes back to the settings page, which follows its progress.
func (s *Server) settingsExportStart(c echo.Context) error {
	m := membership(c)
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.StartExport(ctx, tn, actor(c), s.Now())
		return err
	})
	if err != nil {
		return err
	}
	s.flash(c, "The export is being built. Its progress is below; the download link appears there when it is ready.")
	return s.redirect(c, paths.Settings.URL(m.Slug)+"#export")
}

// settingsExportStatus answers htmx's poll with the export section as it is now (it stops polling
// once the export is ready or failed); a browser gets the whole settings page.
func (s *Server) settingsExportStatus(c echo.Context) error {
	if !isHTMX(c) {
		return s.settingsIndex(c)
	}
	var e *models.WorkspaceExport
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.LatestExport(ctx, tn)
		return err
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, http.StatusOK, views.ExportPanelView(s.exportPanel(c, e)), nil)
}

// settingsExportDownload sends the finished zip of the export whose link token is in the URL: to
// an owner of this workspace only, before the link expires. The zip is read from the database a
// chunk at a time as it is sent.
func (s *Server) settingsExportDownload(c echo.Context) error {
	token := c.Param("token")
	return s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		e, err := models.ExportForDownload(ctx, tn, actor(c), token, s.Now())
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/zip")
		h.Set(echo.HeaderContentDisposition, `attachment; filename="`+e.FileName+`"`)
		h.Set(echo.HeaderContentLength, strconv.FormatInt(e.SizeBytes, 10))
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
		return models.WriteExport(ctx, tn, e, c.Response())
	})
}
