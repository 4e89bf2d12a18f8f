package handlers

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
	"atrium/views/components"
	"atrium/views/layouts"
)

// usageData is one workspace's usage as the usage page shows it.
type usageData struct {
	name, slug string
	tier       models.Tier
	now        time.Time
	snap       *models.Snapshot
	tierURL    string // where an owner changes the tier; empty for everyone else
	month      models.MonthTotals
	// series is nil when only the numbers are wanted (the polling fragment).
	series *models.UsageSeries
}

// readUsage reads what the usage page shows, inside the transaction it is given.
func readUsage(ctx context.Context, tn *models.Tenant, d *usageData, days int) (err error) {
	if days > models.HourlyUsageUpTo {
		// The numbers and the daily rollup's days in one statement.
		d.snap, d.series, err = models.UsageNowAndByDay(ctx, tn, d.tier, d.now, days)
	} else {
		d.snap, err = models.CurrentUsage(ctx, tn, d.tier, d.now)
	}
	if err != nil {
		return err
	}
	d.month = d.snap.Month()
	if days > 0 && days <= models.HourlyUsageUpTo {
		d.series, err = models.UsageOver(ctx, tn, d.now, days)
	}
	return err
}

// usageNumbers is the refreshing part of the page: the meters with their warnings and the month.
func usageNumbers(d *usageData) views.UsageNumbers {
	ms := meters(d.snap)
	return views.UsageNumbers{Meters: ms, Warnings: usageWarnings(ms, runningTasksURL(d.slug)), TierURL: d.tierURL, MonthLabel: d.month.Month.Format("January 2006"),
		MonthAgentMinutes: models.FormatCount(d.month.AgentMinutes), MonthAPICalls: models.FormatCount(d.month.APICalls),
		UpdatedAt: d.now.UTC().Format("15:04:05 UTC")}
}

// usagePageVM builds the whole usage page; base is the page's address without the range.
func usagePageVM(f layouts.Frame, d *usageData, days int, base string) views.UsagePage {
	vm := views.UsagePage{Frame: f, Name: d.name, Slug: d.slug, Tier: d.tier.Label(), Range: days, Numbers: usageNumbers(d)}
	for _, r := range models.UsageRanges {
		vm.Ranges = append(vm.Ranges, views.RangeLink{Days: r, URL: base + "?range=" + strconv.Itoa(r), Current: r == days})
	}
	s := d.series
	last := s.Until.Add(-time.Hour)
	vm.RangeLabel = s.From.Format("Jan 2") + " – " + last.Format("Jan 2, 2006") + " (UTC)"
	vm.RangeAgentMinutes, vm.RangeAPICalls = models.FormatCount(s.AgentMinutes), models.FormatCount(s.APICalls)
	vm.AgentChart, vm.APIChart = usageCharts(s)
	return vm
}

// dayTickStep labels every day of a week, every fifth of a month, every fifteenth of a quarter.
func dayTickStep(days int) int {
	switch {
	case days <= 7:
		return 1
	case days <= 31:
		return 5
	}
	return 15
}

// usageCharts draws agent-minutes per day as bars and API calls per hour as an area.
func usageCharts(s *models.UsageSeries) (agent, api components.Chart) {
	step := dayTickStep(s.Days)
	var daily []components.ChartPoint
	var busiestDay models.UsageDay
	for i, d := range s.Daily {
		p := components.ChartPoint{Value: d.AgentMinutes, Label: d.Day.Format("Mon Jan 2") + ": " + models.FormatCount(d.AgentMinutes) + " agent-minutes"}
		if (len(s.Daily)-1-i)%step == 0 {
			p.Tick = d.Day.Format("Jan 2")
		}
		daily = append(daily, p)
		if d.AgentMinutes > busiestDay.AgentMinutes {
			busiestDay = d
		}
	}
	desc := fmt.Sprintf("Agent-minutes per UTC day over the last %d days: %s in all.", s.Days, models.FormatCount(s.AgentMinutes))
	if busiestDay.AgentMinutes > 0 {
		desc += fmt.Sprintf(" The busiest day was %s with %s.", busiestDay.Day.Format("January 2"), models.FormatCount(busiestDay.AgentMinutes))
	}
	agent = components.NewChart("chart-agent-minutes", "Agent-minutes per day", desc, components.ChartBars, daily, models.FormatCount)
	agent.TableHead = []string{"Day (UTC)", "Agent-minutes"}
	for i := len(s.Daily) - 1; i >= 0; i-- {
		d := s.Daily[i]
		agent.TableRows = append(agent.TableRows, []string{d.Day.Format("Mon Jan 2, 2006"), models.FormatCount(d.AgentMinutes)})
	}

	if s.Hours == nil {
		api = dailyAPIChart(s, step)
	} else {
		api = hourlyAPIChart(s, step)
	}
	api.TableHead = []string{"Day (UTC)", "API calls", "Busiest hour", "Calls in that hour"}
	for i := len(s.Daily) - 1; i >= 0; i-- {
		d := s.Daily[i]
		peak := "–"
		if d.PeakCalls > 0 {
			peak = d.PeakHour.Format("15:04")
		}
		api.TableRows = append(api.TableRows, []string{d.Day.Format("Mon Jan 2, 2006"), models.FormatCount(d.APICalls), peak, models.FormatCount(d.PeakCalls)})
	}
	return agent, api
}

// dailyAPIChart draws a long range's API calls a day at a time, from the daily rollup.
func dailyAPIChart(s *models.UsageSeries, step int) components.Chart {
	var daily []components.ChartPoint
	var busiest models.UsageDay
	for i, d := range s.Daily {
		p := components.ChartPoint{Value: d.APICalls}
		if (len(s.Daily)-1-i)%step == 0 {
			p.Tick = d.Day.Format("Jan 2")
		}
		daily = append(daily, p)
		if d.APICalls > busiest.APICalls {
			busiest = d
		}
	}
	desc := fmt.Sprintf("API calls per UTC day over the last %d days: %s in all.", s.Days, models.FormatCount(s.APICalls))
	if busiest.APICalls > 0 {
		desc += fmt.Sprintf(" The busiest day was %s with %s.", busiest.Day.Format("January 2"), models.FormatCount(busiest.APICalls))
	}
	return components.NewChart("chart-api-calls", "API calls per day", desc, components.ChartArea, daily, models.FormatCount)
}

// hourlyAPIChart draws a short range's API calls hour by hour.
func hourlyAPIChart(s *models.UsageSeries, step int) components.Chart {
	var hourly []components.ChartPoint
	var busiest models.UsagePoint
	lastDay := len(s.Daily) - 1
	for i, h := range s.Hours {
		p := components.ChartPoint{Value: h.APICalls}
		if day := i / 24; h.Hour.Hour() == 0 && (lastDay-day)%step == 0 {
			p.Tick = h.Hour.Format("Jan 2")
		}
		hourly = append(hourly, p)
		if h.APICalls > busiest.APICalls {
			busiest = h
		}
	}
	desc := fmt.Sprintf("API calls per UTC hour over the last %d days: %s in all.", s.Days, models.FormatCount(s.APICalls))
	if busiest.APICalls > 0 {
		desc += fmt.Sprintf(" The busiest hour was %s with %s.", busiest.Hour.Format("January 2, 15:04 UTC"), models.FormatCount(busiest.APICalls))
	}
	return components.NewChart("chart-api-calls", "API calls per hour", desc, components.ChartArea, hourly, models.FormatCount)
}

// usageIndex is the usage page: the four limits, the month's totals and the charts of the chosen
// range. The page's polling asks for the numbers alone.
func (s *Server) usageIndex(c echo.Context) error {
	m := membership(c)
	days := models.ParseUsageRange(c.QueryParam("range"))
	d := &usageData{name: m.Name, slug: m.Slug, tier: m.Tier, now: s.Now()}
	if m.Role.Can(models.ActManageTier) {
		d.tierURL = paths.Settings.URL(m.Slug) + "#tier"
	}
	wantSeries := days
	if isHTMX(c) {
		wantSeries = 0
	}
	read, from := s.heavyRead(c.Request().Context())
	in := s.inWorkspaceOn
	if wantSeries == 0 || wantSeries > models.HourlyUsageUpTo {
		in = s.readPage // one statement: the numbers, with the daily rollup's days
	}
	if err := in(c, read, func(ctx context.Context, tn *models.Tenant) error { return readUsage(ctx, tn, d, wantSeries) }); err != nil {
		return err
	}
	base := paths.Usage.URL(m.Slug)
	poll := base + "?range=" + strconv.Itoa(days)
	if isHTMX(c) {
		n := usageNumbers(d)
		n.PollURL = poll
		return s.render(c, http.StatusOK, views.UsageNumbersView(n), views.UsageNumbersView(n))
	}
	f := s.frame(c, "Usage", "usage")
	f.ReadFrom = from
	vm := usagePageVM(f, d, days, base)
	vm.Numbers.PollURL = poll
	vm.CSVURL = paths.UsageCSV.URL(m.Slug) + "?range=" + strconv.Itoa(days)
	vm.Alerts = alertNotices(d.snap.Alerts)
	if m.Role.Can(models.ActManageAlerts) {
		vm.AlertsURL = paths.SettingsAlerts.URL(m.Slug)
	}
	if m.Role.Can(models.ActManageTier) {
		vm.SettingsURL = paths.Settings.URL(m.Slug) + "#tier"
	}
	return s.render(c, http.StatusOK, views.UsageView(vm), nil)
}

// usageCSV downloads the range's hourly API calls and agent-minutes, the numbers the charts draw.
func (s *Server) usageCSV(c echo.Context) error {
	m := membership(c)
	days := models.ParseUsageRange(c.QueryParam("range"))
	var series *models.UsageSeries
	read, from := s.heavyRead(c.Request().Context())
	err := s.inWorkspaceOn(c, read, func(ctx context.Context, tn *models.Tenant) (err error) {
		series, err = models.UsageOver(ctx, tn, s.Now(), days)
		return err
	})
	if err != nil {
		return err
	}
	markReadFrom(c, from)
	name := fmt.Sprintf("atrium-usage-%s-%dd-%s.csv", m.Slug, days, s.Now().UTC().Format("20060102"))
	return writeCSV(c, name, models.UsageCSVHeader, series.CSVRows())
}

// writeCSV answers a CSV download.
func writeCSV(c echo.Context, filename string, header []string, rows [][]string) error {
	startCSV(c, filename)
	w := csv.NewWriter(c.Response())
	if err := w.Write(header); err != nil {
		return err
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return w.Error()
}

// startCSV sets a CSV download's headers and status; the body follows.
func startCSV(c echo.Context, filename string) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	c.Response().WriteHeader(http.StatusOK)
}
