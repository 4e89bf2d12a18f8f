package handlers

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/models"
	"atrium/views"
)

// auditFilter reads the audit log's filters from the query string.
func auditFilter(c echo.Context) models.AuditFilter {
	clip := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) > 200 {
			s = s[:200]
		}
		return s
	}
	return models.AuditFilter{Action: clip(c.QueryParam("action")), Actor: clip(c.QueryParam("actor")), After: clip(c.QueryParam("after"))}
}

// auditIndex is the workspace's audit log, newest first; htmx filtering and paging get the table.
func (s *Server) auditIndex(c echo.Context) error {
	m := membership(c)
	f := auditFilter(c)
	vm := views.AuditPage{Frame: s.frame(c, "Audit log", "audit"), Slug: m.Slug, Action: f.Action, Actor: f.Actor, Later: f.After != ""}
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		p, err := models.ListAudit(ctx, tn, f)
		if err != nil {
			return err
		}
		vm.Next = p.Next
		for i := range p.Entries {
			e := &p.Entries[i]
			vm.Rows = append(vm.Rows, views.AuditRow{At: e.CreatedAt,
				Actor: e.Actor(), Support: e.ActorStaff == models.StaffSupport, Action: e.Action, Target: e.Target,
				Details: e.DetailsText(), IP: e.IP})
		}
		vm.Actions, err = models.AuditActions(ctx, tn)
		return err
	})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.AuditView(vm), views.AuditTable(vm))
}

// auditCSV downloads every event the filters match, newest first, streamed as it is read.
func (s *Server) auditCSV(c echo.Context) error {
	m := membership(c)
	f := auditFilter(c)
	f.After = ""
	name := fmt.Sprintf("atrium-audit-%s-%s.csv", m.Slug, s.Now().UTC().Format("20060102"))
	return s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		var w *csv.Writer
		err := models.EachAudit(ctx, tn, f, func(e *models.AuditEntry) error {
			if w == nil {
				w = startAuditCSV(c, name)
			}
			return w.Write(e.CSVRecord())
		})
		if err != nil {
			return err
		}
		if w == nil {
			w = startAuditCSV(c, name)
		}
		w.Flush()
		return w.Error()
	})
}

// startAuditCSV begins the download once the first rows are read, so an error before then is
// still answered with a proper error page.
func startAuditCSV(c echo.Context, name string) *csv.Writer {
	startCSV(c, name)
	w := csv.NewWriter(c.Response())
	_ = w.Write(models.AuditCSVHeader)
	return w
}
