package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// seedCrowd adds n viewers and members to ws: member i joined i+1 days ago.
func seedCrowd(t *testing.T, app *webtest.App, ws *models.Workspace, n int) {
	t.Helper()
	now := testdb.Now(t)
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range n {
			u := &models.User{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: fmt.Sprintf("crowd%03d-%s@example.com", i, ws.Slug), Name: fmt.Sprintf("Crowd %03d", i), PasswordHash: "x"}
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
			m := &models.Member{UserID: u.ID, Role: models.RoleViewer, CreatedAt: now.Add(-time.Duration(i+1) * 24 * time.Hour)}
			if i%3 == 0 {
				m.Role = models.RoleMember
			}
			if _, err := tn.Tx().NewInsert().Model(m).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// choose picks value in the select sel as a person would: the select must be visible and on top
// (click checks it), then the choice fires the change event the page listens to.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := click(sel)(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		js := fmt.Sprintf(`(function(){var s=document.querySelector(%q);s.value=%q;s.dispatchEvent(new Event("change",{bubbles:true}));return s.value})()`, sel, value)
		got, err := chromedp.Evaluate[string](js)(ctx, tg)
		if err == nil && got != value {
			err = fmt.Errorf("%s has no option %q", sel, value)
		}
		return chromedp.Void{}, err
	}
}

// TestMemberListFilterSortPages: at 1280×800 and at 390×844, a person filters the members by role
// (the table is swapped in place and the address keeps the filter), sorts by a column's header or
// the sort select, and goes to another page by its number; every control is visible and on top
// when clicked.
func TestMemberListFilterSortPages(t *testing.T) {
	app := webtest.Start(t)
	ownerEmail := webtest.UniqueEmail("e2e-lists")
	owner := app.User(ownerEmail)
	ws := app.Workspace(owner, webtest.UniqueSlug("lists"))
	app.SetTier(ws, models.TierEnterprise)
	seedCrowd(t, app, ws, 150) // 50 members, 100 viewers
	members := app.HTTP.URL + "/w/" + ws.Slug + "/members"
	tab := browser(t)
	login(t, tab, app, ownerEmail)
	rows := `document.querySelectorAll('[data-testid="member-row"]')`
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			step(t, tab, "open Members", chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(members),
				chromedp.WaitVisible(chromedp.CSS(tid("member-role-filter"))))
			eval[bool](t, tab, `window.__stay = 1; true`)
			step(t, tab, "show viewers only", choose(tid("member-role-filter"), "viewer"))
			waitFor(t, tab, "the table shows viewers only", `document.querySelector('#members-table[data-role-filter="viewer"]') && `+rows+`.length === 50 && !document.querySelector('[data-testid="member-row"]:not([data-role="viewer"])')`)
			if eval[int](t, tab, `window.__stay || 0`) != 1 {
				t.Fatal("the filter reloaded the page instead of swapping the table")
			}
			waitFor(t, tab, "the address keeps the filter", `location.search.indexOf("role=viewer") >= 0`)
			if got := text(t, tab, tid("page-range")); got != "1–50 of 100 members" {
				t.Fatalf("range %q", got)
			}
			if size.w >= 1024 {
				step(t, tab, "sort by Joined (newest first) with its header", click(tid("sort-joined")))
				waitFor(t, tab, "the list is sorted by joined", `!!document.querySelector('th[aria-sort="descending"] [data-testid="sort-joined"]')`)
			} else {
				step(t, tab, "sort by Joined (newest first) with the select", choose(tid("member-sort"), "-joined"))
				waitFor(t, tab, "the list is sorted by joined", `document.querySelector('#members-table[data-sort="-joined"]') !== null`)
			}
			if first := eval[string](t, tab, rows+`[0].dataset.email`); !strings.HasPrefix(first, "crowd001-") {
				t.Fatalf("the newest viewer first: %s", first)
			}
			step(t, tab, "go to page 2 by its number", click(`[data-testid="members-pagination"] `+tid("page-2")))
			waitFor(t, tab, "page 2", `(function(){var c=document.querySelector('[data-testid="page-current"]');return !!c && c.textContent.trim()==="2"})()`)
			if q := eval[string](t, tab, `location.search`); !strings.Contains(q, "role=viewer") || !strings.Contains(q, "sort=-joined") || !strings.Contains(q, "page=2") {
				t.Fatalf("page 2's address lost the filter or the order: %s", q)
			}
			if n := eval[int](t, tab, rows+`.length`); n != 50 {
				t.Fatalf("page 2 shows %d rows", n)
			}
			if first := eval[string](t, tab, rows+`[0].dataset.email`); !strings.HasPrefix(first, "crowd076-") {
				t.Fatalf("page 2 starts with %s", first)
			}
			problems := eval[string](t, tab, `(function(){return document.documentElement.scrollWidth > innerWidth ? "the page scrolls sideways: " + document.documentElement.scrollWidth : ""})()`)
			if problems != "" {
				t.Fatal(problems)
			}
			shot(t, tab, "members-filtered-"+size.name)
		})
	}
}

// TestInvitationsTabResend: invitations have their own tab on Members; an expired invitation is
// listed apart and resent from it, at 1280×800 and at 390×844: the new link is shown once and the
// invitation is pending again.
func TestInvitationsTabResend(t *testing.T) {
	app := webtest.Start(t)
	ownerEmail := webtest.UniqueEmail("e2e-inv")
	owner := app.User(ownerEmail)
	ws := app.Workspace(owner, webtest.UniqueSlug("inv"))
	app.SetTier(ws, models.TierPro)
	now := testdb.Now(t)
	var late []string
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range 2 {
			email := fmt.Sprintf("late%d-%s@example.com", i, ws.Slug)
			late = append(late, email)
			inv := &models.Invitation{ID: models.NewID(), Email: email, Role: models.RoleMember, TokenHash: fmt.Sprintf("h%d-%s", i, ws.Slug),
				InvitedBy: &owner.ID, CreatedAt: now.Add(-8 * 24 * time.Hour), ExpiresAt: now.Add(-24 * time.Hour)}
			if _, err := tn.Tx().NewInsert().Model(inv).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tab := browser(t)
	login(t, tab, app, ownerEmail)
	for i, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			row := fmt.Sprintf(`tr[data-email=%q]`, late[i])
			step(t, tab, "open Members", chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/members"),
				chromedp.WaitVisible(chromedp.CSS(tid("tab-invitations"))))
			if got := text(t, tab, tid("tab-invitations-expired")); got != fmt.Sprintf("%d expired", 2-i) {
				t.Fatalf("the tab says %q", got)
			}
			step(t, tab, "open the Invitations tab", click(tid("tab-invitations")), chromedp.WaitVisible(chromedp.CSS(tid("invitation-tab-expired"))))
			step(t, tab, "open the expired ones", click(tid("invitation-tab-expired")),
				chromedp.WaitVisible(chromedp.CSS(row+" "+tid("invitation-expired"))))
			step(t, tab, "resend", click(row+" "+tid("resend-invitation")), chromedp.WaitVisible(chromedp.CSS(tid("invitation-url"))))
			if got := location(t, tab); got != "/w/"+ws.Slug+"/invitations" {
				t.Fatalf("after the resend the browser is at %s", got)
			}
			if link := eval[string](t, tab, `document.querySelector('[data-testid="invitation-url"]').value`); !strings.Contains(link, "/invitations/") {
				t.Fatalf("link %q", link)
			}
			if eval[int](t, tab, fmt.Sprintf(`document.querySelectorAll(%q).length`, row+` [data-testid="invitation-expired"]`)) != 0 ||
				eval[int](t, tab, fmt.Sprintf(`document.querySelectorAll(%q).length`, row)) != 1 {
				t.Fatal("the resent invitation is not pending")
			}
			shot(t, tab, "invitations-resent-"+size.name)
			step(t, tab, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("invitation-tabs"))))
			if eval[int](t, tab, `document.querySelectorAll('[data-testid="invitation-url"]').length`) != 0 {
				t.Fatal("the link is shown again after a reload")
			}
		})
	}
}
