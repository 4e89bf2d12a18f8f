package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// webhookDeliveriesPage is how many deliveries the endpoint's page lists at once.
const webhookDeliveriesPage = 25

// webhookRules are the address rules of the endpoint form.
func (s *Server) webhookRules() models.WebhookURLRules {
	return models.WebhookURLRules{AllowHTTP: s.Cfg.WebhooksAllowPrivate, AllowPrivate: s.Cfg.WebhooksAllowPrivate}
}

// webhookGroups are the form's event types by family.
func webhookGroups() []views.WebhookTypeGroup {
	labels := map[string]string{"member": "member events", "invitation": "invitation events", "api_key": "API key events",
		"task": "task events", "quota": "quota events", "workspace": "workspace events", "audit": "audit log lines"}
	var out []views.WebhookTypeGroup
	for _, f := range models.WebhookEventFamilies() {
		g := views.WebhookTypeGroup{Family: f, Label: labels[f]}
		for _, t := range models.WebhookEventTypes {
			if strings.HasPrefix(t, f+".") {
				g.Types = append(g.Types, t)
			}
		}
		out = append(out, g)
	}
	return out
}

func webhookRow(e *models.WebhookEndpoint) views.WebhookRow {
	return views.WebhookRow{ID: e.ID.String(), URL: e.URL, Description: e.Description, Types: e.EventTypes, Enabled: e.Enabled(),
		DisabledReason: e.DisabledReason, FailingSince: e.FailingSince}
}

// webhookForm reads the endpoint form.
func webhookForm(c echo.Context) models.NewWebhookEndpoint {
	f, _ := c.FormParams()
	return models.NewWebhookEndpoint{URL: c.FormValue("url"), Description: c.FormValue("description"), EventTypes: f["event_types"]}
}

// refusedWebhookForm is a refused endpoint form brought back after the redirect.
func (s *Server) refusedWebhookForm(c echo.Context, name string, into *views.WebhookForm) {
	var back formBack
	if s.takeForm(c, name, &back) {
		into.URL, into.Description = back.Values["url"], back.Values["description"]
		into.Types = strings.Fields(back.Values["event_types"])
		into.Errors = back.Errors
	}
}

func (s *Server) refuseWebhookForm(c echo.Context, name, back string, in models.NewWebhookEndpoint, ve *models.ValidationError) error {
	return s.refuseForm(c, name, back, formBack{Values: map[string]string{"url": in.URL, "description": in.Description,
		"event_types": strings.Join(in.EventTypes, " ")}, Errors: ve.Fields})
}

// webhooksIndex lists the workspace's endpoints with the form for a new one.
func (s *Server) webhooksIndex(c echo.Context) error {
	m := membership(c)
	vm := views.WebhooksPage{Frame: s.frame(c, "Webhooks", "webhooks"), Slug: m.Slug, Groups: webhookGroups(),
		Max: models.MaxWebhookEndpoints, Form: views.WebhookForm{HTTPS: !s.Cfg.WebhooksAllowPrivate}}
	s.refusedWebhookForm(c, "webhook-new", &vm.Form)
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		list, err := models.WebhookEndpoints(ctx, tn)
		for i := range list {
			vm.Endpoints = append(vm.Endpoints, webhookRow(&list[i]))
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.WebhooksView(vm), nil)
}

// createdSecret is an endpoint's secret on its way to the one page that shows it.
type createdSecret struct {
	Endpoint      string     `json:"endpoint"`
	Secret        string     `json:"secret"`
	PreviousUntil *time.Time `json:"previous_until,omitempty"`
}

// webhookCreate registers an endpoint and shows its page with the secret, once.
func (s *Server) webhookCreate(c echo.Context) error {
	m := membership(c)
	in := webhookForm(c)
	var e *models.WebhookEndpoint
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.CreateWebhookEndpoint(ctx, tn, actor(c), in, s.webhookRules(), s.Now())
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseWebhookForm(c, "webhook-new", paths.Webhooks.URL(m.Slug), in, ve)
	}
	if err != nil {
		return err
	}
	if err := s.stashSecret(c, "webhook", createdSecret{Endpoint: e.ID.String(), Secret: e.Secret}); err != nil {
		return err
	}
	s.flash(c, "Endpoint added. Copy its signing secret now.")
	return s.redirect(c, paths.Webhook.URL(m.Slug, e.ID.String()))
}

// webhookShow is one endpoint's page: its deliveries, settings, secret roll and deletion.
func (s *Server) webhookShow(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "webhook endpoint")
	if err != nil {
		return err
	}
	vm := views.WebhookPage{Frame: s.frame(c, "Webhook endpoint", "webhooks"), Slug: m.Slug, Groups: webhookGroups()}
	var shown createdSecret
	if s.takeSecret(c, "webhook", &shown) && shown.Endpoint == id.String() {
		c.Response().Header().Set("Cache-Control", "no-store")
		vm.Secret, vm.PreviousUntil = shown.Secret, shown.PreviousUntil
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	now := s.Now()
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		e, list, err := models.WebhookEndpointWithDeliveries(ctx, tn, id, before, webhookDeliveriesPage+1)
		if err != nil {
			return err
		}
		vm.Endpoint = webhookRow(e)
		vm.Form = views.WebhookForm{URL: e.URL, Description: e.Description, Types: e.EventTypes, HTTPS: !s.Cfg.WebhooksAllowPrivate}
		if len(list) > webhookDeliveriesPage {
			list = list[:webhookDeliveriesPage]
			vm.Older = fmt.Sprintf("%s?before=%d", paths.Webhook.URL(m.Slug, id.String()), list[len(list)-1].Seq)
		}
		for i := range list {
			vm.Deliveries = append(vm.Deliveries, deliveryRow(&list[i], now))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.refusedWebhookForm(c, "webhook-edit", &vm.Form)
	return s.render(c, http.StatusOK, views.WebhookView(vm), nil)
}

func deliveryRow(d *models.WebhookDelivery, now time.Time) views.DeliveryRow {
	r := views.DeliveryRow{ID: d.ID.String(), EventType: d.EventType, Status: d.Status, Created: d.CreatedAt, Attempts: d.Attempts,
		Error: d.LastError, LastAttempt: d.LastAttemptAt, Code: "—", Latency: "—"}
	if d.LastStatusCode != nil {
		r.Code = strconv.Itoa(*d.LastStatusCode)
	}
	if d.LastLatencyMS != nil {
		r.Latency = fmt.Sprintf("%d ms", *d.LastLatencyMS)
	}
	if d.Status == models.DeliveryPending && d.Attempts > 0 && d.NextAttemptAt.After(now) {
		next := d.NextAttemptAt
		r.NextAttempt = &next
	}
	return r
}

// webhookUpdate saves an endpoint's address, description and event types.
func (s *Server) webhookUpdate(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "webhook endpoint")
	if err != nil {
		return err
	}
	in := webhookForm(c)
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.UpdateWebhookEndpoint(ctx, tn, actor(c), id, in, s.webhookRules(), s.Now())
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return s.refuseWebhookForm(c, "webhook-edit", paths.Webhook.URL(m.Slug, id.String()), in, ve)
	}
	if err != nil {
		return err
	}
	s.flash(c, "Endpoint saved.")
	return s.redirect(c, paths.Webhook.URL(m.Slug, id.String()))
}

// webhookEnabledUpdate enables or disables an endpoint.
func (s *Server) webhookEnabledUpdate(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "webhook endpoint")
	if err != nil {
		return err
	}
	on := c.FormValue("enabled") == "true"
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.SetWebhookEndpointEnabled(ctx, tn, actor(c), id, on, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	if on {
		s.flash(c, "Endpoint enabled: new events are delivered to it again.")
	} else {
		s.flash(c, "Endpoint disabled: no events are delivered to it, and deliveries still waiting were given up.")
	}
	return s.redirect(c, paths.Webhook.URL(m.Slug, id.String()))
}

// webhookRoll gives an endpoint a new secret, shown once; the previous one keeps signing for the
// chosen grace.
func (s *Server) webhookRoll(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "webhook endpoint")
	if err != nil {
		return err
	}
	hours, err := strconv.Atoi(c.FormValue("grace_hours"))
	if err != nil {
		hours = -1
	}
	var e *models.WebhookEndpoint
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.RollWebhookSecret(ctx, tn, actor(c), id, time.Duration(hours)*time.Hour, s.Now())
		return err
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		s.flashError(c, ve.Fields["grace"])
		return s.redirect(c, paths.Webhook.URL(m.Slug, id.String()))
	}
	if err != nil {
		return err
	}
	shown := createdSecret{Endpoint: e.ID.String(), Secret: e.Secret}
	if e.PreviousSecretUntil != nil {
		shown.PreviousUntil = e.PreviousSecretUntil
	}
	if err := s.stashSecret(c, "webhook", shown); err != nil {
		return err
	}
	s.flash(c, "Secret rolled. Copy the new one now.")
	return s.redirect(c, paths.Webhook.URL(m.Slug, id.String()))
}

// webhookDeleteConfirm asks before an endpoint is deleted: in the page's dialog, or as a page.
func (s *Server) webhookDeleteConfirm(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "webhook endpoint")
	if err != nil {
		return err
	}
	var e *models.WebhookEndpoint
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.WebhookEndpointByID(ctx, tn, id)
		return err
	})
	if err != nil {
		return err
	}
	return s.confirmPanel(c, views.ConfirmPage{Frame: s.frame(c, "Delete endpoint", "webhooks"), Heading: "Delete this endpoint?",
		Message: e.URL + " stops receiving events at once, and its delivery history goes with it. This cannot be undone.",
		Action:  c.Request().URL.Path, Button: "Delete endpoint", Cancel: paths.Webhook.URL(m.Slug, id.String())})
}

// webhookDelete removes an endpoint, once confirmed.
func (s *Server) webhookDelete(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "webhook endpoint")
	if err != nil {
		return err
	}
	if !confirmed(c) {
		return s.askFirst(c)
	}
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		return models.DeleteWebhookEndpoint(ctx, tn, actor(c), id, s.Now())
	})
	if err != nil {
		return err
	}
	s.flash(c, "Endpoint deleted.")
	return s.redirect(c, paths.Webhooks.URL(m.Slug))
}

// webhookRedeliver sends a delivery again under the same id.
func (s *Server) webhookRedeliver(c echo.Context) error {
	m := membership(c)
	id, err := idParam(c, "delivery")
	if err != nil {
		return err
	}
	var d *models.WebhookDelivery
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		d, err = models.RedeliverWebhook(ctx, tn, actor(c), id, s.Now())
		return err
	})
	if errors.Is(err, models.ErrConflict) {
		_, _, msg := classify(err)
		s.flashError(c, msg)
		return s.redirect(c, paths.Webhooks.URL(m.Slug))
	}
	if err != nil {
		return err
	}
	s.flash(c, "Delivery "+d.ID.String()+" is queued again, under the same webhook-id.")
	return s.redirect(c, paths.Webhook.URL(m.Slug, d.EndpointID.String()))
}
