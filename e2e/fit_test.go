package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// Names as people have them: long, with hyphens, in scripts written right to left.
var fitNames = []string{
	"Maximiliana Alexandra Featherstonehaugh-Cholmondeley-Worthington",
	"عبد الرحمن بن عبد العزيز آل الفلاني الطويل",
	"יהונתן בן־דוד אברהמי־רוזנבלום",
	"Nguyễn Thị Phương Thảo",
	"Jean-Baptiste Emmanuel Zorg de la Rochefoucauld",
	"Ana",
	"Siobhán Ní Mhaoilmhichíl-O'Callaghan",
	"محمد",
}

// fitData is the workspace every role looks at: 300 members, 60 keys, 24 agents and 90 tasks with
// long and right-to-left names, audit events and a month of use.
type fitData struct {
	slug  string
	roles map[string]string // role → the email of a person with it
}

func seedFit(t *testing.T, app *webtest.App) fitData {
	t.Helper()
	ctx := context.Background()
	now := testdb.Now(t)
	d := fitData{slug: webtest.UniqueSlug("fit"), roles: map[string]string{}}
	mk := func(role, name string, staff string) *models.User {
		email := webtest.UniqueEmail("fit-" + role)
		u, err := models.CreateUser(ctx, app.DB.App, models.NewUser{Email: email, Name: name, Password: webtest.Password, StaffRole: staff}, testdb.Clock())
		if err != nil {
			t.Fatal(err)
		}
		d.roles[role] = email
		return u
	}
	owner := mk("owner", "Olivia Owner-Featherstonehaugh", "")
	people := map[string]*models.User{
		"admin":  mk("admin", fitNames[1], ""),
		"member": mk("member", "Mia Member", ""),
		"viewer": mk("viewer", fitNames[2], ""),
	}
	mk("support", "Sam Support", models.StaffSupport)
	ws, err := models.CreateWorkspace(ctx, app.DB.App, owner, "شركة الروبوتات المتقدمة — Demo Robotics International Research Laboratories", d.slug, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	// The others share the owner's password hash: 295 password hashings would take minutes.
	var hash string
	if err := app.DB.App.NewSelect().Model((*models.User)(nil)).Column("password_hash").Where("id = ?", owner.ID).Scan(ctx, &hash); err != nil {
		t.Fatal(err)
	}
	var users []models.User
	for i := range 300 - 4 {
		name := fitNames[i%len(fitNames)]
		local := fmt.Sprintf("person.number.%03d.with.a.rather.long.address", i)
		if i%3 == 1 {
			local = fmt.Sprintf("p%03d", i)
		}
		users = append(users, models.User{CreatedAt: testdb.Clock(), ID: uuid.New(), Email: local + "@" + strings.TrimPrefix(d.slug, "fit-") + ".research-laboratories.example.com",
			Name: fmt.Sprintf("%s %d", name, i), PasswordHash: hash})
	}
	if _, err := app.DB.App.NewInsert().Model(&users).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	err = models.InWorkspace(ctx, app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		tx := tn.Tx()
		if _, err := tx.NewUpdate().Model(ws).Set("tier = ?", models.TierEnterprise).WherePK().Exec(ctx); err != nil {
			return err
		}
		ms := []models.Member{{CreatedAt: testdb.Clock(), UserID: people["admin"].ID, Role: models.RoleAdmin}, {CreatedAt: testdb.Clock(), UserID: people["member"].ID, Role: models.RoleMember},
			{CreatedAt: testdb.Clock(), UserID: people["viewer"].ID, Role: models.RoleViewer}}
		for i, u := range users {
			ms = append(ms, models.Member{CreatedAt: testdb.Clock(), UserID: u.ID, Role: []models.Role{models.RoleMember, models.RoleViewer, models.RoleAdmin}[i%3]})
		}
		if _, err := tx.NewInsert().Model(&ms).Exec(ctx); err != nil {
			return err
		}
		// Open invitations with long addresses: pending ones and an expired one.
		for i := range 4 {
			inv := &models.Invitation{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: fmt.Sprintf("invited.person.number.%d.with.a.long.address@%s.research-laboratories.example.com", i, strings.TrimPrefix(d.slug, "fit-")),
				Role: models.RoleMember, TokenHash: fmt.Sprintf("fit-%d-%s", i, d.slug), InvitedBy: &owner.ID, ExpiresAt: now.Add(time.Duration(3-2*i) * 24 * time.Hour)}
			if _, err := tx.NewInsert().Model(inv).Exec(ctx); err != nil {
				return err
			}
		}
		actor := models.Actor{UserID: owner.ID, Role: models.RoleOwner}
		for i := range 60 {
			name := fmt.Sprintf("%s — nightly build and deploy robot %d", fitNames[i%len(fitNames)], i)
			if len([]rune(name)) > 80 {
				name = string([]rune(name)[:80])
			}
			k, _, err := models.CreateKey(ctx, tn, actor, models.NewKey{Name: name, Scope: "read_write", ExpiresInDays: "90"}, now)
			if err != nil {
				return err
			}
			if err := models.Record(ctx, tn, models.Event{At: testdb.Clock(), ActorUserID: owner.ID, Action: "key.create", Target: k.Name,
				Details: map[string]any{"prefix": k.Prefix, "scope": "read_write", "note": strings.Repeat("a-long-unbroken-detail-value-", 4)},
				IP:      "2001:0db8:85a3:0000:0000:8a2e:0370:7334"}); err != nil {
				return err
			}
		}
		// Agents with long and right-to-left names, and their tasks, a few of them running.
		var agents []models.Agent
		for i := range 24 {
			agents = append(agents, models.Agent{CreatedAt: testdb.Clock(), ID: uuid.New(), Name: fmt.Sprintf("%s — research assistant %d", fitNames[i%len(fitNames)], i), Status: "active"})
		}
		if _, err := tx.NewInsert().Model(&agents).Exec(ctx); err != nil {
			return err
		}
		var tasks []models.Task
		for i := range 90 {
			start := now.Add(-time.Duration(i*17+5) * time.Minute)
			tk := models.Task{CreatedAt: testdb.Clock(), ID: uuid.New(), AgentID: agents[i%len(agents)].ID, Status: models.TaskSucceeded, StartedAt: &start,
				Input: fmt.Sprintf("%s: summarise the quarterly robotics research report number %d and its appendices", fitNames[i%len(fitNames)], i)}
			if i%15 == 0 {
				tk.Status = models.TaskRunning
			} else {
				fin := start.Add(time.Duration(3+i%40) * time.Minute)
				tk.FinishedAt, tk.AgentMinutes = &fin, int64(3+i%40)
			}
			tasks = append(tasks, tk)
		}
		if _, err := tx.NewInsert().Model(&tasks).Exec(ctx); err != nil {
			return err
		}
		var hours []models.UsageHour
		for h := range 30 * 24 {
			hours = append(hours, models.UsageHour{Hour: now.UTC().Truncate(time.Hour).Add(-time.Duration(h) * time.Hour),
				APICalls: int64(100 + (h*37)%900), AgentMinutes: int64((h * 7) % 13)})
		}
		_, err := tx.NewInsert().Model(&hours).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fitCheck runs in the page and reports what does not fit, one problem a line ("" when all fits).
// wide says the viewport is a desktop's: there a main table must not scroll sideways inside its box.
const fitCheck = `(function (wide) {
  var out = [], de = document.documentElement;
  if (de.scrollWidth > de.clientWidth) out.push("the page is " + de.scrollWidth + " px wide in a " + de.clientWidth + " px window");
  var scroller = function (e) {
    for (var p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      var o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") return p;
    }
    return null;
  };
  document.querySelectorAll("main table").forEach(function (tb, i) {
    if (!tb.getClientRects().length) return; // folded away (a chart's numbers)
    var name = tb.getAttribute("data-testid") || (tb.caption ? tb.caption.textContent.trim() : "table " + i);
    var box = scroller(tb);
    if (wide && box && box.scrollWidth > box.clientWidth + 1)
      out.push("table " + JSON.stringify(name) + " scrolls sideways: " + box.scrollWidth + " px in a " + box.clientWidth + " px box");
    if (!wide && tb.classList.contains("data-table")) {
      var row = tb.querySelector("tbody > tr");
      if (row && getComputedStyle(row).display !== "block") out.push("table " + JSON.stringify(name) + " keeps table rows on a phone");
      if (box && box.scrollWidth > box.clientWidth + 1)
        out.push("table " + JSON.stringify(name) + " scrolls sideways on a phone: " + box.scrollWidth + " px in " + box.clientWidth);
      if (row) row.querySelectorAll("a, button, select, summary, input:not([type=hidden])").forEach(function (c) {
        var r = c.getBoundingClientRect(), b = box ? box.getBoundingClientRect() : {left: 0, right: innerWidth};
        if (r.width && (r.left < Math.max(0, b.left) - 1 || r.right > Math.min(innerWidth, b.right) + 1))
          out.push("a row action of " + JSON.stringify(name) + " (" + c.textContent.trim().slice(0, 30) + ") is outside the screen");
      });
    }
  });
  var nav = document.querySelector('nav[aria-label="Workspace (compact)"]');
  if (nav && nav.getClientRects().length) {
    if (nav.scrollWidth > nav.clientWidth) out.push("the bottom navigation is " + nav.scrollWidth + " px wide in " + nav.clientWidth);
    nav.querySelectorAll(".compact-nav-item").forEach(function (a) {
      if (a.getClientRects().length && a.scrollWidth > a.clientWidth) out.push("bottom navigation label " + JSON.stringify(a.textContent.trim()) + " is cut");
    });
  }
  document.querySelectorAll("main svg text").forEach(function (tx) {
    if (!tx.getClientRects().length) return;
    var m = tx.ownerSVGElement.getScreenCTM(), px = parseFloat(getComputedStyle(tx).fontSize) * (m ? m.a : 1);
    if (px < 11) out.push("chart label " + JSON.stringify(tx.textContent) + " is " + px.toFixed(1) + " px");
  });
  return out.join("\n");
})`

// pageLinks lists the pages of the console a person can reach from the frame: the workspace
// navigation (so new pages are covered as they join it) and the account pages.
const pageLinks = `(function () {
  var seen = {}, out = [];
  document.querySelectorAll('nav[aria-label="Workspace"] a, [data-testid="user-menu"] a, [data-testid="support-link"]').forEach(function (a) {
    var u = new URL(a.href);
    if (u.origin === location.origin && !seen[u.pathname]) { seen[u.pathname] = true; out.push(u.pathname); }
  });
  return out;
})()`

// TestConsoleFits loads every console page as each role at a desktop's 1280×800 and a phone's
// 390×844, in the light and the dark theme, with 300 members and 60 keys of long and
// right-to-left names. It fails when a page scrolls sideways, a main table scrolls sideways on the
// desktop, a table keeps its rows (and hides actions) on the phone, the bottom navigation does not
// fit or a chart label is under 11 px. Screenshots go to output/fit/.
func TestConsoleFits(t *testing.T) {
	app := webtest.Start(t)
	d := seedFit(t, app)
	root := browser(t)
	dir := filepath.Join("output", "fit")
	os.RemoveAll(dir) // no picture of an earlier run's failure stays behind
	os.MkdirAll(dir, 0o755)
	for _, role := range []string{"owner", "admin", "member", "viewer", "support"} {
		t.Run(role, func(t *testing.T) {
			tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
			defer cancel()
			if err := chromedp.Do(tab); err != nil {
				t.Fatalf("open a tab: %v", err)
			}
			login(t, tab, app, d.roles[role])
			pages := []string{"/w/" + d.slug}
			if role == "support" {
				pages = []string{"/support/workspaces", "/support/workspaces/" + d.slug}
			}
			step(t, tab, "open the first page", chromedp.Navigate(app.HTTP.URL+pages[0]))
			for _, p := range eval[[]string](t, tab, pageLinks) {
				if p != pages[0] && p != "/support/workspaces" {
					pages = append(pages, p)
				}
			}
			if role == "owner" {
				pages = append(pages, "/w/"+d.slug+"/members?page=2", "/w/"+d.slug+"/members?role=viewer&sort=-active", "/w/"+d.slug+"/invitations",
					"/w/"+d.slug+"/invitations?status=expired", "/w/"+d.slug+"/usage?range=7")
				// The first row's page of each list that links to one (an agent, a task, a key).
				for _, p := range pages {
					if strings.HasSuffix(p, "/agents") || strings.HasSuffix(p, "/tasks") || strings.HasSuffix(p, "/keys") {
						step(t, tab, "open "+p, chromedp.Navigate(app.HTTP.URL+p), chromedp.WaitVisible(chromedp.CSS("main")))
						if u := eval[string](t, tab, `(function(){var a=document.querySelector("main table tbody a");return a?new URL(a.href).pathname:""})()`); u != "" {
							pages = append(pages, u)
						}
					}
				}
			}
			t.Logf("%s: %s", role, strings.Join(pages, " "))
			for _, size := range []struct {
				w, h int64
				name string
			}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
				for _, theme := range []string{"light", "dark"} {
					step(t, tab, "set "+size.name+" "+theme,
						chromedp.EmulateViewport(size.w, size.h),
						chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
							_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
								Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}}})
							return err
						}))
					for _, p := range pages {
						step(t, tab, "open "+p, chromedp.Navigate(app.HTTP.URL+p), chromedp.WaitVisible(chromedp.CSS("main")))
						// The theme followed the system's: the page's background is dark in the dark.
						bg := eval[string](t, tab, `getComputedStyle(document.documentElement).backgroundColor`)
						if dark := isDark(bg); dark != (theme == "dark") {
							t.Errorf("%s %s %s: the page's background is %s", p, size.name, theme, bg)
						}
						name := fmt.Sprintf("%s-%s-%s-%s", role, size.name, theme, strings.NewReplacer("/", "_", "?", "_", "=", "-").Replace(strings.Trim(p, "/")))
						problems := eval[string](t, tab, fitCheck+fmt.Sprintf("(%v)", size.w >= 1024))
						if size.w < 1024 { // on a phone the picture shows the first table's cards rather than the page's top
							eval[bool](t, tab, `(function(){var e=document.querySelector("main table");if(!e||!e.getClientRects().length)return false;window.scrollTo(0,e.getBoundingClientRect().top+scrollY-80);return true})()`)
						}
						if problems != "" {
							t.Errorf("%s at %s in %s:\n%s", p, size.name, theme, problems)
							saveShot(t, tab, filepath.Join(dir, "failed-"+name+".png"))
						} else {
							saveShot(t, tab, filepath.Join(dir, name+".png"))
						}
					}
				}
			}
		})
	}
}

// isDark says whether a computed rgb() colour is a dark one.
func isDark(css string) bool {
	var r, g, b int
	if _, err := fmt.Sscanf(strings.ReplaceAll(css, " ", ""), "rgb(%d,%d,%d)", &r, &g, &b); err != nil {
		return false
	}
	return r+g+b < 3*96
}

// saveShot saves what the viewport shows.
func saveShot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(cctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", path, err)
	}
}

// TestThemeSwitch: the user menu's switch sets dark, light or the system's theme; the choice
// outlives a reload and is in force before the page paints (theme.js sets the class in <head>).
func TestThemeSwitch(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("theme")
	app.Workspace(app.User(email), webtest.UniqueSlug("theme"))
	tab := browser(t)
	login(t, tab, app, email)
	bg := func() string {
		return eval[string](t, tab, `getComputedStyle(document.documentElement).backgroundColor`)
	}
	if isDark(bg()) {
		t.Fatalf("light system, no choice: background %s", bg())
	}
	choose := func(c string) {
		t.Helper()
		if !eval[bool](t, tab, `document.querySelector('[data-testid="user-menu"]').open`) {
			step(t, tab, "open the user menu", click(tid("user-menu")+" summary"))
		}
		step(t, tab, "choose "+c, click(tid("theme-"+c)))
	}
	choose("dark")
	if !isDark(bg()) {
		t.Errorf("dark chosen: background %s", bg())
	}
	if p := eval[string](t, tab, `document.querySelector('[data-testid="theme-dark"]').getAttribute("aria-pressed")`); p != "true" {
		t.Errorf("the Dark button is not marked pressed: %q", p)
	}
	// After a reload the class is on <html> from the first script in <head>, before the stylesheet.
	step(t, tab, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("main")))
	if !isDark(bg()) || !eval[bool](t, tab, `document.documentElement.classList.contains("dark")`) {
		t.Errorf("dark is forgotten after a reload: background %s", bg())
	}
	first := eval[string](t, tab, `document.head.querySelector("script, link[rel=stylesheet]").getAttribute("src")`)
	if first != "/static/js/theme.js" {
		t.Errorf("the first script or stylesheet in <head> is %q, so the theme could flash", first)
	}
	// System follows the system: dark when it says dark.
	choose("system")
	step(t, tab, "a dark system", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	if !isDark(bg()) {
		t.Errorf("system chosen on a dark system: background %s", bg())
	}
	choose("light")
	if isDark(bg()) {
		t.Errorf("light chosen on a dark system: background %s", bg())
	}
	stored := eval[string](t, tab, `localStorage.getItem("theme") || ""`)
	if stored != "light" {
		t.Errorf("stored theme %q", stored)
	}
}
