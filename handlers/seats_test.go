package handlers_test

import (
	"net/http"
	"testing"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestSeatWarningsOnMembers: the seats are warned of on Members, at the invite form: nothing below
// 80 %, amber from 80 %, red at 100 %; an owner alone on Free is told plainly, not warned; owners
// get the way to change tier, admins do not.
func TestSeatWarningsOnMembers(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("seat-owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("seats"))
	oc := app.Login(owner.Email)
	members := "/w/" + ws.Slug + "/members"
	state := func(c *webtest.Client) (meter, notice string, tierLink bool) {
		t.Helper()
		res := c.Get(members)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("members: %d", res.StatusCode)
		}
		doc := res.Doc()
		meter, _ = doc.Find(`[data-testid="meter-seats"]`).Attr("data-level")
		n := doc.Find(`[data-testid="seat-notice"]`)
		notice = "none"
		if n.Length() == 1 {
			notice, _ = n.Attr("data-level")
		}
		return meter, notice, n.Find(`[data-testid="seat-notice-tier"]`).Length() == 1
	}
	// Free, the owner alone: 1 of 1 is no warning; the invite form says how to get more seats.
	if m, n, link := state(oc); m != "" || n != "" || !link {
		t.Errorf("owner alone on Free: meter %q, notice %q, tier link %v", m, n, link)
	}
	if doc := oc.Get("/w/" + ws.Slug).Doc(); doc.Find(`[data-testid="limit-notice"], [data-testid="usage-warning"]`).Length() != 0 {
		t.Error("the overview warns a new Free workspace")
	}

	// Pro has 10 seats. 7 taken: 70 %, nothing; 8: amber; 10: red.
	app.SetTier(ws, models.TierPro)
	admin := app.User(webtest.UniqueEmail("seat-admin"))
	app.AddMember(ws, admin, models.RoleAdmin)
	for range 5 {
		app.AddMember(ws, app.User(webtest.UniqueEmail("seat")), models.RoleMember)
	}
	if m, n, _ := state(oc); m != "" || n != "none" {
		t.Errorf("7 of 10: meter %q, notice %q", m, n)
	}
	app.AddMember(ws, app.User(webtest.UniqueEmail("seat")), models.RoleMember)
	if m, n, link := state(oc); m != "warn" || n != "warn" || !link {
		t.Errorf("8 of 10: meter %q, notice %q, tier link %v", m, n, link)
	}
	ac := app.Login(admin.Email)
	if m, n, link := state(ac); m != "warn" || n != "warn" || link {
		t.Errorf("8 of 10 as admin: meter %q, notice %q, tier link %v", m, n, link)
	}
	app.AddMember(ws, app.User(webtest.UniqueEmail("seat")), models.RoleMember)
	app.AddMember(ws, app.User(webtest.UniqueEmail("seat")), models.RoleMember)
	if m, n, link := state(oc); m != "limit" || n != "limit" || !link {
		t.Errorf("10 of 10: meter %q, notice %q, tier link %v", m, n, link)
	}
	// Seats refuse invitations only: no notice in the overview's frame.
	if doc := oc.Get("/w/" + ws.Slug).Doc(); doc.Find(`[data-testid="limit-notice"]`).Length() != 0 {
		t.Error("full seats put a notice in the frame")
	}
}
