package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// recordAudit appends n events to ws's audit log.
func recordAudit(t *testing.T, app *webtest.App, ws *models.Workspace, n int, tag string) {
	t.Helper()
	for i := range n {
		err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			return models.Record(ctx, tn, models.Event{Action: "test.export", Target: fmt.Sprintf("%s-%d", tag, i),
				Details: map[string]any{"n": i, "tag": tag, "html": "<b>&</b>"}, At: testdb.Now(t)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

type auditPageOut struct {
	Data       []models.AuditExportEvent `json:"data"`
	NextCursor *string                   `json:"next_cursor"`
	HasMore    bool                      `json:"has_more"`
}

func auditPageOf(t *testing.T, r apiRes) auditPageOut {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("audit export: %d %s", r.Status, r.Body)
	}
	var p auditPageOut
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkExportedChain recomputes every exported event's hash from its fields and checks each
// prev_hash is the previous event's hash, as a SIEM could.
func checkExportedChain(t *testing.T, ws *models.Workspace, evs []models.AuditExportEvent, prev string) {
	t.Helper()
	for i, x := range evs {
		e := models.ChainEvent{Seq: x.Seq, ID: x.ID, WorkspaceID: ws.ID, ActorUserID: x.ActorUserID, ActorKeyID: x.ActorKeyID,
			Action: x.Action, Target: x.Target, Details: x.Details, IP: x.IP, PrevHash: x.PrevHash}
		var err error
		if e.CreatedAt, err = parseChainTime(x.CreatedAt); err != nil {
			t.Fatal(err)
		}
		h, err := e.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		if h != x.Hash {
			t.Fatalf("event %d (seq %d): exported hash %s, recomputed %s", i, x.Seq, x.Hash, h)
		}
		if i > 0 || prev != "-" {
			if x.PrevHash != prev {
				t.Fatalf("event seq %d: prev_hash %s, the event before's hash %s", x.Seq, x.PrevHash, prev)
			}
		}
		prev = x.Hash
	}
}

// TestAPIAuditExport: GET /api/v1/audit answers the workspace's events in chain order with hash and
// prev_hash (recomputable from the fields), pages with a cursor that stays valid while events
// arrive, streams NDJSON on request, needs scope audit:read (403 in the usual shape otherwise, and
// an audit key reads nothing else), and never shows another workspace's events.
func TestAPIAuditExport(t *testing.T) {
	app := webtest.Start(t)
	a := newAPISpace(t, app, models.TierPro)
	b := newAPISpace(t, app, models.TierPro)
	_, auditA := apiKeyFor(t, app, a.ws, a.owner, models.RoleOwner, "audit:read", "30")
	_, auditB := apiKeyFor(t, app, b.ws, b.owner, models.RoleOwner, "audit:read", "30")
	recordAudit(t, app, a.ws, 7, "a")
	recordAudit(t, app, b.ws, 4, "b")
	base := app.HTTP.URL

	t.Run("scope", func(t *testing.T) {
		for name, key := range map[string]string{"read": a.readKey, "read_write": a.writeKey} {
			r := apiCall(t, base, "GET", "/api/v1/audit", key, "")
			if r.Status != 403 || r.Code(t) != "insufficient_scope" || !strings.Contains(r.Body, "audit:read") {
				t.Errorf("%s key: %d %s", name, r.Status, r.Body)
			}
		}
		for _, path := range []string{"/api/v1/workspace", "/api/v1/usage", "/api/v1/agents", "/api/v1/tasks"} {
			if r := apiCall(t, base, "GET", path, auditA, ""); r.Status != 403 || r.Code(t) != "insufficient_scope" {
				t.Errorf("audit key on %s: %d %s", path, r.Status, r.Body)
			}
		}
		if r := apiCall(t, base, "POST", "/api/v1/agents", auditA, `{"name": "x"}`); r.Status != 403 || r.Code(t) != "insufficient_scope" {
			t.Errorf("audit key writes: %d %s", r.Status, r.Body)
		}
		if r := apiCall(t, base, "GET", "/api/v1/audit", "", ""); r.Status != 401 {
			t.Errorf("no key: %d", r.Status)
		}
	})

	// All of A's events, three at a time, in chain order: seq 1, 2, 3, … and a chain that holds.
	var all []models.AuditExportEvent
	cursor := ""
	for range 10 {
		p := auditPageOf(t, apiCall(t, base, "GET", "/api/v1/audit?limit=3&cursor="+url.QueryEscape(cursor), auditA, ""))
		all = append(all, p.Data...)
		if p.NextCursor == nil {
			t.Fatal("no next_cursor")
		}
		cursor = *p.NextCursor
		if !p.HasMore {
			break
		}
	}
	var want int // workspace.create, the keys' creation and the 7
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ?", a.ws.ID).Scan(context.Background(), &want); err != nil {
		t.Fatal(err)
	}
	if len(all) != want || want < 10 {
		t.Fatalf("%d events exported, want %d", len(all), want)
	}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		if strings.HasPrefix(e.Target, "b-") {
			t.Fatalf("A's export holds B's event %+v", e)
		}
	}
	if all[0].PrevHash != "" || all[len(all)-1].Details == nil {
		t.Errorf("first prev_hash %q", all[0].PrevHash)
	}
	checkExportedChain(t, a.ws, all, "")

	// The cursor of the last page stays where it was while events arrive: the next call answers
	// exactly the new ones, and one more after that nothing.
	if p := auditPageOf(t, apiCall(t, base, "GET", "/api/v1/audit?cursor="+url.QueryEscape(cursor), auditA, "")); len(p.Data) != 0 || p.HasMore {
		t.Fatalf("past the end: %d events", len(p.Data))
	}
	mid := all[3].Cursor
	recordAudit(t, app, a.ws, 3, "later")
	p := auditPageOf(t, apiCall(t, base, "GET", "/api/v1/audit?cursor="+url.QueryEscape(cursor), auditA, ""))
	last := all[len(all)-1]
	if len(p.Data) != 3 || p.Data[0].Seq != last.Seq+1 || p.Data[0].Target != "later-0" || p.Data[0].PrevHash != last.Hash {
		t.Fatalf("after new events: %+v", p.Data)
	}
	checkExportedChain(t, a.ws, p.Data, last.Hash)
	if q := auditPageOf(t, apiCall(t, base, "GET", "/api/v1/audit?limit=2&cursor="+url.QueryEscape(mid), auditA, "")); len(q.Data) != 2 || q.Data[0].Seq != 5 || q.Data[0].ID != all[4].ID {
		t.Fatalf("an older cursor moved: %+v", q.Data)
	}

	// NDJSON: the whole log, one event per line, each with its cursor.
	r := apiCall(t, base, "GET", "/api/v1/audit", auditA, "", "Accept", "application/x-ndjson")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("NDJSON: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var lines []models.AuditExportEvent
	sc := bufio.NewScanner(strings.NewReader(r.Body))
	for sc.Scan() {
		var e models.AuditExportEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, e)
	}
	if len(lines) != want+3 || lines[want+2].Target != "later-2" {
		t.Fatalf("NDJSON: %d lines", len(lines))
	}
	checkExportedChain(t, a.ws, lines, "")
	if r := apiCall(t, base, "GET", "/api/v1/audit?limit=2&cursor="+url.QueryEscape(lines[8].Cursor), auditA, "", "Accept", "application/x-ndjson"); strings.Count(r.Body, "\n") != 2 || !strings.Contains(r.Body, `"seq":10`) {
		t.Fatalf("NDJSON after a cursor: %s", r.Body)
	}

	// B's key sees B's events only.
	pb := auditPageOf(t, apiCall(t, base, "GET", "/api/v1/audit?limit=1000", auditB, ""))
	if len(pb.Data) != 8 { // workspace.create, three keys, the 4
		t.Fatalf("B: %d events", len(pb.Data))
	}
	for _, e := range pb.Data {
		if strings.HasPrefix(e.Target, "a-") || strings.HasPrefix(e.Target, "later-") {
			t.Fatalf("B's export holds A's event %+v", e)
		}
	}
	// A's cursor given to B's key continues in B's chain, never A's.
	q := auditPageOf(t, apiCall(t, base, "GET", "/api/v1/audit?cursor="+url.QueryEscape(mid), auditB, ""))
	if len(q.Data) != 4 || q.Data[0].Seq != 5 || q.Data[0].Target != "b-0" {
		t.Fatalf("A's cursor with B's key: %+v", q.Data)
	}
	for _, e := range q.Data {
		if !strings.HasPrefix(e.Target, "b-") {
			t.Fatalf("A's cursor with B's key answered %+v", e)
		}
	}

	for _, q := range []string{"limit=0", "limit=1001", "cursor=bm9wZQ", "cursor=%25%25"} {
		if r := apiCall(t, base, "GET", "/api/v1/audit?"+q, auditA, ""); r.Status != 400 || r.Code(t) != "invalid_page" {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
}

// TestAuditReadScopeOnlyFromOwnersAndAdmins: members can't create an audit:read key (the form
// says why, keeping what was typed), admins and owners can.
func TestAuditReadScopeOnlyFromOwnersAndAdmins(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	for role, ok := range map[models.Role]bool{models.RoleOwner: true, models.RoleAdmin: true, models.RoleMember: false} {
		var u *models.User
		switch role {
		case models.RoleOwner:
			u = c.owner
		case models.RoleAdmin:
			u = c.admin
		default:
			u = c.member
		}
		err := models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, _, err := models.CreateKey(ctx, tn, models.Actor{UserID: u.ID, Role: role},
				models.NewKey{Name: "siem", Scope: "audit:read", ExpiresInDays: "30"}, testdb.Now(t))
			return err
		})
		var ve *models.ValidationError
		if ok && err != nil || !ok && (!errors.As(err, &ve) || !strings.Contains(ve.Fields["scope"], "owners and admins")) {
			t.Errorf("%s creates an audit:read key: %v", role, err)
		}
	}
	keys := "/w/" + sp.ws.Slug + "/keys"
	member := c.clients[models.RoleMember]
	if page := member.Get(keys + "?new=1"); page.Has("scope-audit-read") {
		t.Error("a member is offered the audit:read scope")
	}
	if page := c.clients[models.RoleAdmin].Get(keys + "?new=1"); !page.Has("scope-audit-read") {
		t.Error("an admin is not offered the audit:read scope")
	}
	// Refused without JavaScript: back to the form (Post/Redirect/Get), which says why and keeps
	// what was typed.
	res := member.Post(keys, url.Values{"name": {"my siem"}, "scope": {"audit:read"}, "expires_in_days": {"30"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != keys+"?new=1" {
		t.Fatalf("member's audit:read key: %d to %q, want 303 back to the form", res.StatusCode, res.Header.Get("Location"))
	}
	res = member.Get(res.Header.Get("Location"))
	if !strings.Contains(res.Body, "Only owners and admins can give a key the audit:read scope.") || !strings.Contains(res.Body, `value="my siem"`) {
		t.Errorf("member's refused form: %d, message or typed name missing", res.StatusCode)
	}
	var n int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM api_keys WHERE workspace_id = ? AND scope = 'audit:read' AND created_by = ?", sp.ws.ID, c.member.ID).Scan(context.Background(), &n); err != nil || n != 0 {
		t.Errorf("member made %d audit:read keys (%v)", n, err)
	}
}

func parseChainTime(s string) (time.Time, error) { return time.Parse(models.ChainTimeFormat, s) }
