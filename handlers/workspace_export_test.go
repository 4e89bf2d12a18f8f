package handlers_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// exportApp runs the server with its background worker, which builds the exports.
func exportApp(t *testing.T) *webtest.App {
	return webtest.StartWith(t, handlers.Config{DeliverMail: true, MailPollInterval: 50 * time.Millisecond})
}

// waitExportReady polls the export section as htmx does until the export is ready.
func waitExportReady(t *testing.T, c *webtest.Client, slug string) *webtest.Response {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res := c.HTMX(http.MethodGet, "/w/"+slug+"/settings/export", nil)
		state := res.Doc().Find(`[data-testid="export-panel"]`).AttrOr("data-state", "")
		switch state {
		case "ready":
			return res
		case "building":
			if res.Doc().Find(`[data-testid="export-panel"]`).AttrOr("hx-trigger", "") == "" {
				t.Fatal("a building export's panel does not poll")
			}
		default:
			t.Fatalf("export panel state %q: %s", state, res.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the export was not ready within a minute")
	return nil
}

// TestExportFromTheSettingsPage: an owner starts an export on the settings page (POST, redirect
// back), sees it being built, then a link; the zip it downloads verifies against its manifest and
// checksums and holds no API key. Admins and members are refused; the owner of another workspace
// gets 404 for the link, in A's workspace and with A's token in their own; after 24 hours the link
// says it expired and the page offers a new export.
func TestExportFromTheSettingsPage(t *testing.T) {
	app := exportApp(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	owner := c.clients[models.RoleOwner]
	_, key := apiKeyFor(t, app, sp.ws, c.owner, models.RoleOwner, "read_write", "30")
	base := "/w/" + sp.ws.Slug + "/settings"

	page := owner.Get(base)
	if page.Doc().Find(`[data-testid="export-panel"]`).AttrOr("data-state", "") != "none" || !page.Has("export-start") {
		t.Fatalf("before any export: %q", page.TestID("export-panel"))
	}
	for _, role := range []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer} {
		cl := c.clients[role]
		cl.Get("/w/" + sp.ws.Slug)
		if res := cl.Post(base+"/export", nil); res.StatusCode != http.StatusForbidden {
			t.Fatalf("%s starting an export: %d", role, res.StatusCode)
		}
	}
	res := owner.Post(base+"/export", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base+"#export" {
		t.Fatalf("start: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	page = owner.Get(base)
	if st := page.Doc().Find(`[data-testid="export-panel"]`).AttrOr("data-state", ""); st != "building" && st != "ready" {
		t.Fatalf("after the start the panel is %q", st)
	}
	// Without JavaScript the status address is the settings page itself.
	if res := owner.Get(base + "/export"); res.StatusCode != http.StatusOK || !res.Has("export-panel") || !res.Has("tier-form") {
		t.Fatalf("status without htmx: %d", res.StatusCode)
	}
	ready := waitExportReady(t, owner, sp.ws.Slug)
	link := ready.Doc().Find(`[data-testid="export-download"]`).AttrOr("href", "")
	if !strings.HasPrefix(link, base+"/export/") || len(strings.TrimPrefix(link, base+"/export/")) < 43 {
		t.Fatalf("download link %q", link)
	}
	dl := owner.Get(link)
	if dl.StatusCode != http.StatusOK || dl.Header.Get("Content-Type") != "application/zip" ||
		!strings.Contains(dl.Header.Get("Content-Disposition"), "atrium-export-"+sp.ws.Slug) {
		t.Fatalf("download: %d %s %s", dl.StatusCode, dl.Header.Get("Content-Type"), dl.Header.Get("Content-Disposition"))
	}
	raw := []byte(dl.Body)
	sum := sha256.Sum256(raw)
	if got := ready.TestID("export-sha256"); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("the page says sha256 %s, the zip is %x", got, sum)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		files[f.Name] = b.Bytes()
		_, secret, _ := models.ParseKey(key)
		if bytes.Contains(b.Bytes(), []byte(key)) || bytes.Contains(b.Bytes(), []byte(secret)) {
			t.Errorf("%s holds the API key", f.Name)
		}
	}
	var man models.ExportManifest
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil || man.WorkspaceID != sp.ws.ID || len(man.Files) < 11 {
		t.Fatalf("manifest: %v %+v", err, man)
	}
	for _, f := range man.Files {
		h := sha256.Sum256(files[f.Name])
		if hex.EncodeToString(h[:]) != f.SHA256 || int64(len(files[f.Name])) != f.Bytes {
			t.Errorf("%s does not match the manifest", f.Name)
		}
		if !strings.Contains(string(files["SHA256SUMS"]), f.SHA256+"  "+f.Name+"\n") {
			t.Errorf("%s is not in SHA256SUMS", f.Name)
		}
	}
	if !bytes.Contains(files["members.csv"], []byte(c.viewer.Email)) {
		t.Error("members.csv misses a member")
	}

	// Other roles, and another workspace's owner.
	if res := c.clients[models.RoleAdmin].Get(link); res.StatusCode != http.StatusForbidden {
		t.Fatalf("an admin's download: %d", res.StatusCode)
	}
	other := app.User(webtest.UniqueEmail("other-owner"))
	ows := app.Workspace(other, webtest.UniqueSlug("other"))
	oc := app.Login(other.Email)
	if res := oc.Get(link); res.StatusCode != http.StatusNotFound {
		t.Fatalf("another workspace's owner on A's link: %d", res.StatusCode)
	}
	token := strings.TrimPrefix(link, base+"/export/")
	if res := oc.Get("/w/" + ows.Slug + "/settings/export/" + url.PathEscape(token)); res.StatusCode != http.StatusNotFound {
		t.Fatalf("A's token in B's workspace: %d", res.StatusCode)
	}

	// After 24 hours the link has expired.
	app.Advance(models.ExportLinkLifetime + time.Minute)
	owner = app.Login(c.owner.Email) // the session has ended too
	// The link says it expired, whether or not the background sweep (which runs at the worker's
	// start, on the moved clock, at a moment the test does not choose) has deleted the zip: the
	// sweep leaves the export's row as a tombstone. Nothing is served.
	if res := owner.Get(link); res.StatusCode != http.StatusGone || !strings.Contains(res.Body, "link expired") {
		t.Fatalf("an expired link: %d", res.StatusCode)
	}
	// And once the sweep has run on the moved clock (now, for certain), the same.
	if _, err := models.RunRetention(context.Background(), app.DB.App, app.Server.Now()); err != nil {
		t.Fatal(err)
	}
	if res := owner.Get(link); res.StatusCode != http.StatusGone || !strings.Contains(res.Body, "link expired") {
		t.Fatalf("an expired link after the sweep: %d", res.StatusCode)
	}
	page = owner.Get(base)
	if page.Doc().Find(`[data-testid="export-panel"]`).AttrOr("data-state", "") != "none" || page.Has("export-download") {
		t.Fatal("the page still links an expired export")
	}
}
