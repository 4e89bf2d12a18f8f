package handlers

import (
	"strings"
	"testing"

	"atrium/handlers/paths"
)

// TestNavNamesOnlyTableRoutes: every navigation entry is a workspace page of the table, and an
// entry whose route left the table (renamed, removed, made a POST) is an error, which stops the
// server from starting, instead of an entry that quietly never shows.
func TestNavNamesOnlyTableRoutes(t *testing.T) {
	got, err := buildNav(nav, table)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(nav) {
		t.Fatalf("%d of %d entries", len(got), len(nav))
	}
	for _, drop := range nav {
		var rest []route
		for _, r := range table {
			if r.method == get && r.path.Pattern() == drop.path.Pattern() {
				continue
			}
			rest = append(rest, r)
		}
		if _, err := buildNav(nav, rest); err == nil || !strings.Contains(err.Error(), drop.key) {
			t.Errorf("without GET %s the navigation still builds: %v", drop.path.Pattern(), err)
		}
	}
	stray := append(append([]navItem(nil), nav...), navItem{"stray", "Stray", paths.Path1{}})
	if _, err := buildNav(stray, table); err == nil {
		t.Error("an entry naming no route builds")
	}
}
