package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/models/mail"
	"atrium/views"
	"atrium/views/components"
)

// invitationsIndex lists the workspace's open invitations, pending (the default) or expired
// (?status=expired), newest first, 50 to a page. After a resend without mail it shows the new
// link once.
func (s *Server) invitationsIndex(c echo.Context) error {
	m := membership(c)
	expired := c.QueryParam("status") == "expired"
	page, _ := strconv.Atoi(c.QueryParam("page"))
	vm := views.InvitationsPage{Frame: s.frame(c, "Invitations", "members"), Slug: m.Slug, Expired: expired,
		CanInvite: len(models.InvitationPermissions{Role: m.Role}.InviteRoles()) > 0}
	var link views.InvitationLink
	if !isHTMX(c) && s.takeSecret(c, "invitation", &link) {
		c.Response().Header().Set("Cache-Control", "no-store")
		vm.Link = &link
	}
	now := s.Now()
	err := s.readPage(c, s.DB, func(ctx context.Context, tn *models.Tenant) error {
		l, err := models.ListInvitations(ctx, tn, expired, page, now)
		if err != nil {
			return err
		}
		vm.Pending, vm.ExpiredCount = l.Pending, l.Expired
		q := url.Values{}
		if expired {
			q.Set("status", "expired")
		}
		vm.Pager = components.Pager{Page: l.Page, Pages: l.Pages, Total: l.Total, PerPage: models.InvitationPageSize,
			Base: paths.Invitations.URL(m.Slug), Query: q, Label: "Invitation pages", Noun: "invitations", TestID: "invitations"}
		for _, inv := range l.Invitations {
			row := views.InvitationRowVM{ID: inv.ID.String(), Email: inv.Email, RoleLabel: inv.Role.Label(),
				Sent: inv.CreatedAt, Expires: inv.ExpiresAt, Expired: inv.State(now) == models.InvitationExpired,
				CanManage: models.InvitationPermissions{Role: m.Role}.Manage(&inv) == nil}
			if inv.InvitedBy != nil {
				row.InvitedBy = l.InviterNames[*inv.InvitedBy]
			}
			if row.InvitedBy == "" {
				row.InvitedBy = "A former member"
			}
			vm.Rows = append(vm.Rows, row)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.InvitationsView(vm), nil)
}

// invitationLink is the absolute address of an invitation, on the configured public base URL.
func (s *Server) invitationLink(token string) string {
	return s.link(paths.Invitation.URL(token))
}

// queueInvitation writes the invitation's mail to the outbox in the transaction that issued it,
// when mail reaches anyone (SMTP, or the development mailbox).
func (s *Server) queueInvitation(ctx context.Context, c echo.Context, tn *models.Tenant, inv *models.IssuedInvitation) error {
	if !s.mailReady() {
		return nil
	}
	m, u := membership(c), currentUser(c)
	msg := mail.Invitation(inv.Email, m.Name, u.DisplayName(), inv.Role, s.invitationLink(inv.Token), inv.ExpiresAt)
	return models.QueueWorkspaceMail(ctx, tn, "invitation:"+inv.TokenHash, msg.Queued(), s.Now())
}

// deliverInvitation tells the inviter what happened to a freshly issued link. With SMTP the mail
// is on its way (the outbox delivers it, retrying as long as it takes) and the page says so;
// without, the members page shows the link once after the redirect, kept sealed meanwhile (see
// stashSecret).
func (s *Server) deliverInvitation(c echo.Context, inv *models.IssuedInvitation, verb, back string) error {
	if s.Cfg.SMTPURL != "" {
		s.flash(c, "Invitation "+verb+": it is being mailed to "+inv.Email+".")
		return s.redirect(c, back)
	}
	shown := &views.InvitationLink{Email: inv.Email, URL: s.invitationLink(inv.Token)}
	if err := s.stashSecret(c, "invitation", shown); err != nil {
		return err
	}
	note := " (mail is not configured on this server)"
	if !s.Cfg.Production {
		note = " (without SMTP_URL the mail went to the development mailbox, " + paths.DevMail.URL() + ")"
	}
	s.flash(c, "Invitation "+verb+": copy the link below for "+inv.Email+note+".")
	return s.redirect(c, back)
}

// invitationCreate invites an email with a role.
func (s *Server) invitationCreate(c echo.Context) error {
	if err := s.requireVerified(c); err != nil || c.Response().Committed {
		return err
	}
	form := views.InviteForm{Email: c.FormValue("email"), Role: c.FormValue("role")}
	role, _ := models.ParseRole(form.Role)
	var inv *models.IssuedInvitation
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		if inv, err = models.CreateInvitation(ctx, tn, actor(c), form.Email, role, s.Now()); err != nil {
			return err
		}
		return s.queueInvitation(ctx, c, tn, inv)
	})
	var ve *models.ValidationError
	var me *models.Error
	switch {
	case errors.As(err, &ve):
		return s.refuseInvite(c, form, ve.Fields)
	case errors.Is(err, models.ErrLimitReached) && errors.As(err, &me):
		// The form stays filled in, with the limit's message where the person is looking.
		return s.refuseInvite(c, form, map[string]string{"email": me.Message})
	case err != nil:
		return err
	}
	return s.deliverInvitation(c, inv, "created", paths.Members.URL(membership(c).Slug))
}

// refuseInvite sends a refused invitation back to the members page's form (POST, redirect, GET),
// filled in as it was, with its messages.
func (s *Server) refuseInvite(c echo.Context, form views.InviteForm, errs map[string]string) error {
	return s.refuseForm(c, "invite", paths.Members.URL(membership(c).Slug),
		formBack{Values: map[string]string{"email": form.Email, "role": form.Role}, Errors: errs})
}

// invitationParam reads :id; an id that is not one is simply not found.
func invitationParam(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// invitationResend issues a fresh link for a pending or expired invitation.
func (s *Server) invitationResend(c echo.Context) error {
	if err := s.requireVerified(c); err != nil || c.Response().Committed {
		return err
	}
	id, err := invitationParam(c)
	if err != nil {
		return err
	}
	var inv *models.IssuedInvitation
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		if inv, err = models.ResendInvitation(ctx, tn, actor(c), id, s.Now()); err != nil {
			return err
		}
		return s.queueInvitation(ctx, c, tn, inv)
	})
	if err != nil {
		// A refusal (the seat it would take back is gone, someone revoked it meanwhile) is said on
		// the list it came from.
		if status, _, msg := classify(err); status < 500 && !isNotFound(err) && !isHTMX(c) {
			s.flashError(c, msg)
			return s.redirect(c, views.InvitationsURL(membership(c).Slug, c.FormValue("from") == "expired"))
		}
		return err
	}
	// The resent invitation is pending again: the list of pending ones shows it.
	return s.deliverInvitation(c, inv, "sent again", paths.Invitations.URL(membership(c).Slug))
}

// invitationRevokeConfirm asks before withdrawing an invitation.
func (s *Server) invitationRevokeConfirm(c echo.Context) error {
	id, err := invitationParam(c)
	if err != nil {
		return err
	}
	var inv *models.Invitation
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		inv, err = models.ManagedInvitation(ctx, tn, actor(c), id)
		return err
	})
	if err != nil {
		return err
	}
	m := membership(c)
	return s.confirmPanel(c, views.ConfirmPage{Frame: s.frame(c, "Revoke invitation", "members"),
		Heading: "Revoke the invitation for " + inv.Email + "?",
		Message: "The link stops working at once and its seat is free again. You can invite " + inv.Email + " again later.",
		Action:  c.Request().URL.Path, Button: "Revoke invitation", Cancel: paths.Invitations.URL(m.Slug)})
}

// invitationRevoke withdraws an invitation, once confirmed.
func (s *Server) invitationRevoke(c echo.Context) error {
	id, err := invitationParam(c)
	if err != nil {
		return err
	}
	if !confirmed(c) {
		return s.askFirst(c)
	}
	var inv *models.Invitation
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		inv, err = models.RevokeInvitation(ctx, tn, actor(c), id, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	s.flash(c, "The invitation for "+inv.Email+" is revoked.")
	return s.redirect(c, paths.Invitations.URL(membership(c).Slug))
}

// invitationPage shows what a link invites to. Anyone may open it: a visitor gets a sign-up form
// with the invited email filled in, or a log-in link, both leading back here.
func (s *Server) invitationPage(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	info, err := models.InvitationByToken(ctx, s.DB, token)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	now := s.Now()
	vm := views.InvitationPage{Frame: s.frame(c, "Invitation to "+info.WorkspaceName, ""), Token: token,
		WorkspaceName: info.WorkspaceName, WorkspaceSlug: info.WorkspaceSlug, InviterName: info.InviterName,
		Email: info.Email, RoleLabel: info.Role.Label(), Expires: info.ExpiresAt,
		State: string(info.State(now))}
	if u := currentUser(c); u != nil {
		vm.LoggedInAs = u.Email
		vm.WrongAccount = !info.IsFor(u)
		_, err := models.ResolveMembership(ctx, s.DB, info.WorkspaceSlug, u.ID)
		vm.IsMember = err == nil
	}
	status := http.StatusOK
	switch info.State(now) {
	case models.InvitationExpired, models.InvitationRevoked:
		status = http.StatusGone
	case models.InvitationPending:
		if vm.WrongAccount {
			status = http.StatusForbidden
		}
	}
	return s.render(c, status, views.InvitationView(vm), nil)
}

// invitationAccept makes the signed-in user a member through the link, on a fresh session token.
func (s *Server) invitationAccept(c echo.Context) error {
	m, err := models.AcceptInvitation(c.Request().Context(), s.DB, currentUser(c), c.Param("token"), s.Now())
	if !isHTMX(c) && (errors.Is(err, models.ErrConflict) || errors.Is(err, models.ErrForbidden) || errors.Is(err, models.ErrLimitReached)) {
		// Refused (used, withdrawn, expired, for another address, no seat): back to the
		// invitation's page, which says so with the reason.
		_, _, msg := classify(err)
		s.flashError(c, msg)
		return s.redirect(c, paths.Invitation.URL(c.Param("token")))
	}
	if err != nil {
		return err
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	s.flash(c, "Welcome to "+m.Name+". You joined as "+m.Role.Label()+".")
	return s.redirect(c, paths.Workspace.URL(m.Slug))
}
