package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
)

// membersExtras is what a members page shows beyond the lists: a form being corrected, a link
// shown once, a refused transfer.
type membersExtras struct {
	invite      views.InviteForm
	link        *views.InvitationLink
	transferFor uuid.UUID
	transferErr string
}

// actor is the signed-in member as the request's authorisation saw them.
func actor(c echo.Context) models.Actor {
	return models.Actor{UserID: currentUser(c).ID, Role: membership(c).Role}
}

// membersPage builds the members page's view model: one page of members, the pending
// invitations and the seat count, read in one workspace transaction.
func (s *Server) membersPage(c echo.Context, x membersExtras) (views.MembersPage, error) {
	m, me := membership(c), currentUser(c)
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	page, _ := strconv.Atoi(c.QueryParam("page"))
	vm := views.MembersPage{Frame: s.frame(c, "Members", "members"), Slug: m.Slug, Query: q, Invite: x.invite, Link: x.link,
		CanInvite: len(models.InvitationPermissions{Role: m.Role}.InviteRoles()) > 0}
	now := s.Now()
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		// Everything the page shows in one statement.
		pd, err := models.ReadMembersPage(ctx, tn, me.ID, q, page, now)
		if err != nil {
			return err
		}
		owners, list := pd.Owners, pd.Listing
		vm.Page, vm.Pages, vm.Total = list.Page, list.Pages, list.Total
		for _, mem := range list.Members {
			r := s.memberRow(c, mem, owners, list.LastActive[mem.UserID], now)
			if mem.UserID == x.transferFor {
				r.TransferError = x.transferErr
			}
			vm.Rows = append(vm.Rows, r)
		}
		self := pd.Self
		leave := models.MemberPermissions{Actor: actor(c), Target: self, Owners: owners}.Leave()
		vm.Self = &views.SelfVM{Role: self.Role.Label(), OnlyOwner: errors.Is(leave, models.ErrConflict)}
		seats := pd.Seats
		limit := m.Tier.Limits().Members
		vm.Seats = views.MeterVM{Key: "seats", Label: "Seats: members and pending invitations", Used: models.FormatCount(seats),
			Limit: limit.String(), Percent: limit.Percent(seats)}
		invs, names := pd.Invitations, pd.InviterNames
		for _, inv := range invs {
			row := views.InvitationRowVM{ID: inv.ID.String(), Email: inv.Email, RoleLabel: inv.Role.Label(),
				Sent: inv.CreatedAt, Expires: inv.ExpiresAt,
				Expired:   inv.State(now) == models.InvitationExpired,
				CanManage: models.InvitationPermissions{Role: m.Role}.Manage(&inv) == nil}
			if inv.InvitedBy != nil {
				row.InvitedBy = names[*inv.InvitedBy]
			}
			vm.Invitations = append(vm.Invitations, row)
		}
		return nil
	})
	if vm.Invite.Role == "" {
		vm.Invite.Role = string(models.RoleMember)
	}
	for _, r := range (models.InvitationPermissions{Role: m.Role}).InviteRoles() {
		vm.InviteRoles = append(vm.InviteRoles, views.RoleOption{Value: string(r), Label: r.Label(), Selected: string(r) == vm.Invite.Role})
	}
	return vm, err
}

// memberRow is one member as the signed-in member may see and handle them: the model's
// MemberPermissions decide, so the page offers exactly what would be allowed (owners is the
// workspace's owner count).
func (s *Server) memberRow(c echo.Context, mem models.Member, owners int, lastActive, now time.Time) views.MemberRowVM {
	m, me := membership(c), currentUser(c)
	r := views.MemberRowVM{Slug: m.Slug, CSRF: s.csrfToken(c.Request().Context()), UserID: mem.UserID.String(),
		Role: string(mem.Role), RoleLabel: mem.Role.Label(), Joined: mem.CreatedAt,
		LastActive: lastActive, IsSelf: mem.UserID == me.ID}
	if mem.User != nil {
		r.Name, r.Email = mem.User.DisplayName(), mem.User.Email
	}
	perms := models.MemberPermissions{Actor: actor(c), Target: &mem, Owners: owners}
	for _, role := range perms.RoleChoices() {
		r.RoleOptions = append(r.RoleOptions, views.RoleOption{Value: string(role), Label: role.Label(), Selected: role == mem.Role})
	}
	r.CanRemove = perms.Remove() == nil
	r.CanTransfer = perms.Transfer() == nil
	return r
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// membersIndex lists the workspace's members and pending invitations; a search from htmx gets
// the table alone.
func (s *Server) membersIndex(c echo.Context) error {
	vm, err := s.membersPage(c, membersExtras{})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.MembersView(vm), views.MembersTable(vm))
}

// memberParam reads :user_id; an id that is not one is simply not found.
func memberParam(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("user_id"))
	if err != nil {
		return uuid.Nil, echo.ErrNotFound
	}
	return id, nil
}

// memberRoleUpdate changes a member's role; htmx gets the re-rendered row.
func (s *Server) memberRoleUpdate(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	role, _ := models.ParseRole(c.FormValue("role"))
	var row views.MemberRowVM
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		if err := models.ChangeRole(ctx, tn, actor(c), id, role); err != nil {
			return err
		}
		mem, err := models.MemberByUserID(ctx, tn, id)
		if err != nil {
			return err
		}
		owners, err := models.CountOwners(ctx, tn)
		if err != nil {
			return err
		}
		seen, err := models.LastActive(ctx, tn, []models.Member{*mem})
		row = s.memberRow(c, *mem, owners, seen[mem.UserID], s.Now())
		return err
	})
	if err != nil {
		return err
	}
	base := paths.Members.URL(membership(c).Slug)
	if id == currentUser(c).ID {
		// Your own role changed: the whole page offers different things now.
		s.flash(c, "Your role is now "+role.Label()+".")
		return s.redirect(c, base)
	}
	if isHTMX(c) {
		row.Saved = true
		return s.render(c, http.StatusOK, views.MemberRow(row), nil)
	}
	s.flash(c, row.Name+" is now "+role.Label()+".")
	return s.redirect(c, base)
}

// confirmed reports whether a destructive form came with its confirmation; without it (no
// JavaScript, so no confirm dialog) the handler asks on a page of its own.
func confirmed(c echo.Context) bool { return c.FormValue("confirm") == "yes" }

// memberRemove takes a member out of the workspace after a confirmation.
func (s *Server) memberRemove(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	m := membership(c)
	var name string
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, err := models.MemberByUserID(ctx, tn, id)
		if err != nil {
			return err
		}
		name = mem.User.DisplayName()
		if !confirmed(c) {
			return nil
		}
		return models.RemoveMember(ctx, tn, actor(c), id, s.Now())
	})
	if err != nil {
		return err
	}
	if !confirmed(c) {
		vm := views.ConfirmPage{Frame: s.frame(c, "Remove member", "members"), Heading: "Remove " + name + "?",
			Message: name + " loses access to " + m.Name + " at once, and the API keys they made here are revoked.",
			Action:  c.Request().URL.Path, Button: "Remove " + name, Cancel: paths.Members.URL(m.Slug)}
		return s.render(c, http.StatusOK, views.ConfirmView(vm), nil)
	}
	s.flash(c, name+" was removed from "+m.Name+".")
	return s.redirect(c, paths.Members.URL(m.Slug))
}

// memberTransfer hands ownership to another member after the owner types their password again.
func (s *Server) memberTransfer(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	m := membership(c)
	var name string
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, err := models.MemberByUserID(ctx, tn, id)
		if err != nil {
			return err
		}
		name = mem.User.DisplayName()
		return models.TransferOwnership(ctx, tn, actor(c), id, c.FormValue("password"))
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		vm, err := s.membersPage(c, membersExtras{transferFor: id, transferErr: ve.Fields["password"]})
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, views.MembersView(vm), nil)
	}
	if err != nil {
		return err
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	s.flash(c, name+" now owns "+m.Name+". You are an admin.")
	return s.redirect(c, paths.Members.URL(m.Slug))
}

// workspaceLeave takes the signed-in member out of the workspace after a confirmation.
func (s *Server) workspaceLeave(c echo.Context) error {
	m := membership(c)
	if !confirmed(c) {
		vm := views.ConfirmPage{Frame: s.frame(c, "Leave workspace", "members"), Heading: "Leave " + m.Name + "?",
			Message: "You lose access at once, and the API keys you made here are revoked. To come back you need a new invitation.",
			Action:  c.Request().URL.Path, Button: "Leave " + m.Name, Cancel: paths.Members.URL(m.Slug)}
		return s.render(c, http.StatusOK, views.ConfirmView(vm), nil)
	}
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		return models.LeaveWorkspace(ctx, tn, actor(c), s.Now())
	})
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if s.Sessions.GetString(ctx, "last_ws") == m.Slug {
		s.Sessions.Remove(ctx, "last_ws")
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	s.flash(c, "You left "+m.Name+".")
	return s.redirect(c, paths.Workspaces.URL())
}
