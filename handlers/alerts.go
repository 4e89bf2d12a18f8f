package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// alertsRecentDays is how far back the alerts page lists the alerts sent.
const alertsRecentDays = 30

// alertsRecentMax is how many of them it lists at most.
const alertsRecentMax = 50

// alertPeriods says how often each limit alerts at most.
var alertPeriods = map[models.LimitKind]string{
	models.LimitAgentMinutes:    "At most one alert per threshold a calendar month (UTC).",
	models.LimitAPICalls:        "At most one alert per threshold an hour, counted as the calls are handed out to the servers in blocks.",
	models.LimitConcurrentTasks: "At most one alert per threshold a day (UTC), when a start reaches it.",
	models.LimitMembers:         "At most one alert per threshold a day (UTC), when an invitation or its acceptance reaches it; pending invitations hold seats.",
}

// alertsPage builds the alerts page from the stored settings (or the form's values and errors).
func (s *Server) alertsPage(c echo.Context, typed []models.AlertInput, ve *models.ValidationError) (views.AlertsPage, error) {
	m := membership(c)
	vm := views.AlertsPage{Frame: s.frame(c, "Quota alerts", "settings"), Slug: m.Slug,
		ActionURL: paths.SettingsAlerts.URL(m.Slug), UsageURL: paths.Usage.URL(m.Slug), Invalid: ve != nil}
	now := s.Now()
	limits := m.Tier.Limits()
	var settings []models.AlertSetting
	var recent []models.QuotaAlert
	err := s.readPage(c, s.DB, func(ctx context.Context, tn *models.Tenant) (err error) {
		settings, recent, err = models.AlertsOverview(ctx, tn, now.AddDate(0, 0, -alertsRecentDays), alertsRecentMax)
		return err
	})
	if err != nil {
		return vm, err
	}
	focused := false
	for i, st := range settings {
		l := views.AlertLimit{Key: string(st.Kind), Label: st.Kind.Label(), Period: alertPeriods[st.Kind],
			LimitText: limitText(st.Kind, limits), Enabled: st.Enabled, Thresholds: joinInts(st.Thresholds),
			Recipients: st.Recipients, Addresses: joinStrings(st.Addresses)}
		if i < len(typed) && typed[i].Kind == st.Kind {
			in := typed[i]
			l.Enabled, l.Thresholds, l.Recipients, l.Addresses = in.Enabled, in.Thresholds, in.Recipients, in.Addresses
		}
		if ve != nil {
			l.ThresholdsError = ve.Fields[string(st.Kind)+".thresholds"]
			l.RecipientsError = ve.Fields[string(st.Kind)+".recipients"]
			l.AddressesError = ve.Fields[string(st.Kind)+".addresses"]
			// The first field with a message has the focus.
			if !focused {
				switch {
				case l.ThresholdsError != "":
					l.Focus = "thresholds"
				case l.RecipientsError != "":
					l.Focus = "recipients"
				case l.AddressesError != "":
					l.Focus = "addresses"
				}
				focused = l.Focus != ""
			}
		}
		vm.Limits = append(vm.Limits, l)
	}
	for _, a := range recent {
		vm.Recent = append(vm.Recent, views.AlertRow{Limit: a.Kind.Label(), Threshold: a.Threshold, Used: models.FormatCount(a.Used),
			LimitText: models.FormatCount(a.Limit), Period: a.Kind.Period(a.PeriodStart), CrossedAt: a.CrossedAt, Current: a.Current(now)})
	}
	return vm, nil
}

// limitText is the tier's limit of kind, in words.
func limitText(k models.LimitKind, l models.TierLimits) string {
	lim := k.Of(l)
	if lim.IsUnlimited() {
		return "unlimited (nothing to alert)"
	}
	switch k {
	case models.LimitAgentMinutes:
		return lim.String() + " agent-minutes a month"
	case models.LimitAPICalls:
		return lim.String() + " calls an hour"
	case models.LimitConcurrentTasks:
		return lim.String() + " running at once"
	}
	n, _ := lim.Value()
	return seatsText(n)
}

// alertsForm is the session's name of a refused alerts form (refuseForm, takeForm).
const alertsFormName = "settings-alerts"

// alertInputs reads every limit's fields of the alerts form through get.
func alertInputs(get func(string) string) []models.AlertInput {
	var ins []models.AlertInput
	for _, k := range models.LimitKinds {
		key := string(k)
		ins = append(ins, models.AlertInput{Kind: k, Enabled: get(key+"_enabled") != "",
			Thresholds: get(key + "_thresholds"), Recipients: get(key + "_recipients"), Addresses: get(key + "_addresses")})
	}
	return ins
}

// alertsIndex shows the quota alerts' settings (owners only), with a form just refused when there
// is one.
func (s *Server) alertsIndex(c echo.Context) error {
	var typed []models.AlertInput
	var ve *models.ValidationError
	var back formBack
	if !isHTMX(c) && s.takeForm(c, alertsFormName, &back) {
		typed = alertInputs(func(k string) string { return back.Values[k] })
		ve = &models.ValidationError{Fields: back.Errors}
	}
	vm, err := s.alertsPage(c, typed, ve)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.AlertsView(vm), nil)
}

// alertsUpdate saves every limit's alert; a refused form comes back with its values and errors
// (422), nothing saved.
func (s *Server) alertsUpdate(c echo.Context) error {
	m := membership(c)
	ins := alertInputs(c.FormValue)
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.SaveAlertSettings(ctx, tn, actor(c), ins, s.Now())
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) && !isHTMX(c) {
		values := map[string]string{}
		for _, in := range ins {
			key := string(in.Kind)
			if in.Enabled {
				values[key+"_enabled"] = "on"
			}
			values[key+"_thresholds"], values[key+"_recipients"], values[key+"_addresses"] = in.Thresholds, in.Recipients, in.Addresses
		}
		return s.refuseForm(c, alertsFormName, paths.SettingsAlerts.URL(m.Slug), formBack{Values: values, Errors: ve.Fields})
	}
	if errors.As(err, &ve) {
		vm, err := s.alertsPage(c, ins, ve)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, views.AlertsView(vm), views.AlertsForm(vm))
	}
	if err != nil {
		return err
	}
	s.flash(c, "Quota alerts saved.")
	return s.redirect(c, paths.SettingsAlerts.URL(m.Slug))
}

// alertNotices tells the thresholds crossed in the periods now running, for the usage page.
func alertNotices(as []models.QuotaAlert) []views.AlertNotice {
	var out []views.AlertNotice
	for _, a := range as {
		out = append(out, views.AlertNotice{Text: fmt.Sprintf("%s: %d %% reached (%s of %s) in %s.",
			a.Kind.Label(), a.Threshold, models.FormatCount(a.Used), models.FormatCount(a.Limit), a.Kind.Period(a.PeriodStart))})
	}
	return out
}

func joinInts(ns []int) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ", "
		}
		out += strconv.Itoa(n)
	}
	return out
}

func joinStrings(ss []string) string { return strings.Join(ss, ", ") }
