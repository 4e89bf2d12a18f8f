package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/models"
	"atrium/views"
)

// auditFilter reads the audit log's filters from the query string; err is the date range's
// *models.ValidationError, and the filter then has no date bounds.
func auditFilter(c echo.Context) (f models.AuditFilter, from, to string, err error) {
	clip := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) > 200 {
			s = s[:200]
		}
		return s
	}
	f = models.AuditFilter{Action: clip(c.QueryParam("action")), Actor: clip(c.QueryParam("actor")), After: clip(c.QueryParam("after"))}
	from, to = clip(c.QueryParam("from")), clip(c.QueryParam("to"))
	f.From, f.To, err = models.ParseAuditRange(from, to)
	return f, from, to, err
}

// auditIndex is the workspace's audit log, newest first; htmx filtering and paging get the table.
func (s *Server) auditIndex(c echo.Context) error {
	m := membership(c)
	f, from, to, rangeErr := auditFilter(c)
	vm := views.AuditPage{Frame: s.frame(c, "Audit log", "audit"), Slug: m.Slug, Action: f.Action, Actor: f.Actor,
		From: from, To: to, Later: f.After != ""}
	status := http.StatusOK
	var ve *models.ValidationError
	if errors.As(rangeErr, &ve) {
		vm.Errors, status = ve.Fields, http.StatusUnprocessableEntity
	}
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		p, actions, err := models.ReadAuditPage(ctx, tn, f)
		if err != nil {
			return err
		}
		vm.Next = p.Next
		for i := range p.Entries {
			e := &p.Entries[i]
			vm.Rows = append(vm.Rows, views.AuditRow{At: e.CreatedAt, Sentence: auditSentence(e),
				Actor: e.Actor(), Support: e.ActorStaff == models.StaffSupport, Action: e.Action, ActionLabel: auditActionLabel(e.Action),
				Target: e.Target, Details: auditDetails(e), IP: e.IP})
		}
		for _, a := range actions {
			vm.Actions = append(vm.Actions, views.AuditAction{Value: a, Label: auditActionLabel(a)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.render(c, status, views.AuditView(vm), views.AuditTable(vm))
}

// auditCSV downloads every event the filters match, newest first, streamed as it is read.
func (s *Server) auditCSV(c echo.Context) error {
	m := membership(c)
	f, _, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.After = ""
	name := fmt.Sprintf("atrium-audit-%s-%s.csv", m.Slug, s.Now().UTC().Format("20060102"))
	read, from := s.heavyRead(c.Request().Context())
	markReadFrom(c, from)
	return s.inWorkspaceOn(c, read, func(ctx context.Context, tn *models.Tenant) error {
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
