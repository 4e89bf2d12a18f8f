package handlers

import (
	"fmt"
	"math"
	"strings"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
	"atrium/views/layouts"
)

// limitLevel judges a share of a limit: "" below 80 %, "warn" from 80 %, "limit" at 100 % (the
// limit refuses more).
func limitLevel(percent float64) string {
	switch {
	case percent >= 100:
		return "limit"
	case percent >= 80:
		return "warn"
	}
	return ""
}

// soloOwner reports whether the workspace's one seat in use is its owner's own: a workspace
// whose only member is its owner, with no invitation pending, is not "over" anything.
func soloOwner(seats int64, owners int) bool { return seats == 1 && owners == 1 }

// refusedWhenFull says what a limit at 100 % refuses, by meter key.
var refusedWhenFull = map[string]string{
	"agent-minutes":    "new tasks are refused until the month starts again.",
	"api-calls":        "API calls are refused until the hour is over.",
	"concurrent-tasks": "new tasks are refused until a running one ends.",
}

// runningTasksURL is the workspace's running tasks, where a person sees what holds the concurrency
// limit and can cancel it.
func runningTasksURL(slug string) string { return paths.Tasks.URL(slug) + "?status=running" }

// usageWarnings says which limits are at 80 % or 100 %, for the usage page; the concurrent tasks'
// warning links to the running tasks. Seats are warned of on Members, where people are invited,
// not here.
func usageWarnings(ms []views.MeterVM, runningURL string) []views.Warning {
	var out []views.Warning
	for _, m := range ms {
		if m.Key == "members" {
			continue
		}
		w := views.Warning{Key: m.Key, Level: m.Level}
		switch m.Level {
		case "limit":
			w.Text = m.Label + ": the limit of " + m.Limit + " is reached; " + refusedWhenFull[m.Key]
		case "warn":
			w.Text = fmt.Sprintf("%s: %s of %s used (%d %%).", m.Label, m.Used, m.Limit, int(math.Floor(m.Percent)))
		default:
			continue
		}
		if m.Key == "concurrent-tasks" {
			w.RunningURL = runningURL
		}
		out = append(out, w)
	}
	return out
}

// limitNotice is the frame's one compact notice when limits refuse work (seats aside: they refuse
// only invitations, said on Members); nil when none does.
func limitNotice(ms []views.MeterVM, m *models.Membership) *layouts.Notice {
	var full []string
	running := false
	for _, x := range ms {
		if x.Key != "members" && x.Level == "limit" {
			full = append(full, x.Label)
			running = running || x.Key == "concurrent-tasks"
		}
	}
	if len(full) == 0 {
		return nil
	}
	n := &layouts.Notice{Text: "Limit reached: " + strings.Join(full, ", ") + ". New work of that kind is refused.",
		UsageURL: paths.Usage.URL(m.Slug)}
	if running {
		n.RunningURL = runningTasksURL(m.Slug)
	}
	if m.Role.Can(models.ActManageTier) {
		n.TierURL = paths.Settings.URL(m.Slug) + "#tier"
	}
	return n
}

// seatNotice is the seats' state on the invite form: a warning from 80 %, a refusal at 100 %, and
// for an owner alone in a tier of one seat, the plain fact with the way forward.
func seatNotice(seats int64, owners int, limit models.Limit, m *models.Membership) *views.SeatNotice {
	var n views.SeatNotice
	if m.Role.Can(models.ActManageTier) {
		n.TierURL = paths.Settings.URL(m.Slug) + "#tier"
	}
	total, bounded := limit.Value()
	switch {
	case !bounded:
		return nil
	case soloOwner(seats, owners) && !limit.Allows(seats, 1):
		n.Text = "Your tier includes " + seatsText(total) + ", and you hold it: to invite people, the workspace needs a larger tier."
	case limitLevel(limit.Percent(seats)) == "limit":
		n.Level = "limit"
		n.Text = "All " + seatsText(total) + " are taken (members and pending invitations): new invitations are refused. Revoke an invitation, remove someone or change tier."
	case limitLevel(limit.Percent(seats)) == "warn":
		n.Level = "warn"
		n.Text = fmt.Sprintf("%s of %s taken (members and pending invitations); %s left.",
			models.FormatCount(seats), seatsText(total), models.FormatCount(total-seats))
	default:
		return nil
	}
	return &n
}

func seatsText(n int64) string {
	if n == 1 {
		return "1 seat"
	}
	return models.FormatCount(n) + " seats"
}
