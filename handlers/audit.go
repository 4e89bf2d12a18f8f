package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
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
	vm, status, err := s.auditPage(c)
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		// A check of the chain made without JavaScript is shown once, after its redirect.
		if raw := s.Sessions.PopString(c.Request().Context(), sessAuditVerify); raw != "" {
			var res views.AuditVerifyResult
			if json.Unmarshal([]byte(raw), &res) == nil {
				vm.Chain.Verify = &res
			}
		}
	}
	return s.render(c, status, views.AuditView(vm), views.AuditTable(vm))
}

// sessAuditVerify keeps the result of a check of the audit chain made without JavaScript for the
// audit page its POST redirects to.
const sessAuditVerify = "audit_verify"

// auditPage reads the audit log page the query asks for.
func (s *Server) auditPage(c echo.Context) (views.AuditPage, int, error) {
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
		vm.Chain = views.AuditChain{HeadSeq: p.Head.Seq, HeadHash: p.Head.Hash, StartSeq: p.StartSeq}
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
	return vm, status, err
}

// auditVerify checks the workspace's audit hash chain and says whether it holds, naming the first
// broken link when it does not: htmx gets the chain panel; without it the POST ends in a redirect
// to the audit log, which shows the result once.
func (s *Server) auditVerify(c echo.Context) error {
	var r *models.ChainReport
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		r, err = models.VerifyAuditChain(ctx, tn, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	res := &views.AuditVerifyResult{OK: r.OK(), Events: r.Events, At: r.At}
	if r.Checkpoint != nil {
		res.FromSeq = r.Checkpoint.Seq
	}
	if !r.OK() {
		res.Reason = r.Broken.Reason
		res.BrokenSeq = r.Broken.Seq
		if r.Broken.EventID != uuid.Nil {
			res.BrokenID = r.Broken.EventID.String()
		}
	}
	if isHTMX(c) {
		vm := views.AuditPage{Frame: s.frame(c, "Audit log", "audit"), Slug: membership(c).Slug, Chain: views.AuditChain{HeadSeq: r.Head.Seq, HeadHash: r.Head.Hash, Verify: res}}
		if r.Checkpoint != nil {
			vm.Chain.StartSeq = r.Checkpoint.Seq
		}
		return s.render(c, http.StatusOK, views.AuditChainPanel(vm), nil)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	s.Sessions.Put(c.Request().Context(), sessAuditVerify, string(b))
	return s.redirect(c, paths.Audit.URL(membership(c).Slug))
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
