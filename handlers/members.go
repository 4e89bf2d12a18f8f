package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/views"
	"atrium/views/components"
)

// membersExtras is what a members page shows beyond the lists: a form being corrected, a link
// shown once.
type membersExtras struct {
	invite views.InviteForm
	link   *views.InvitationLink
}

// actor is the signed-in member as the request's authorisation saw them.
func actor(c echo.Context) models.Actor {
	return models.Actor{UserID: currentUser(c).ID, Role: membership(c).Role}
}

// membersPage builds the members page's view model: one page of members, the pending
// invitations and the seat count, read in one workspace transaction.
func (s *Server) membersPage(c echo.Context, x membersExtras) (views.MembersPage, error) {
	m, me := membership(c), currentUser(c)
	f := memberFilter(c)
	sort := models.FormatSort(f.Sort, f.Desc)
	vm := views.MembersPage{Frame: s.frame(c, "Members", "members"), Slug: m.Slug, Query: f.Query, Role: string(f.Role), Sort: sort,
		RoleFilters: views.MemberRoleFilters, SortChoices: views.MemberSortChoices, Invite: x.invite, Link: x.link,
		CanInvite: len(models.InvitationPermissions{Role: m.Role}.InviteRoles()) > 0}
	now := s.Now()
	err := s.readPage(c, s.DB, func(ctx context.Context, tn *models.Tenant) error {
		// Everything the page shows in one statement.
		pd, err := models.ReadMembersPageBy(ctx, tn, me.ID, f, now)
		if err != nil {
			return err
		}
		owners, list := pd.Owners, pd.Listing
		vm.Page, vm.Pages, vm.Total = list.Page, list.Pages, list.Total
		q := url.Values{"q": {vm.Query}, "role": {vm.Role}}
		if sort != string(models.MemberSortRole) {
			q.Set("sort", sort)
		}
		vm.Pager = components.Pager{Page: list.Page, Pages: list.Pages, Total: list.Total, PerPage: models.MemberPageSize,
			Base: paths.Members.URL(m.Slug), Query: q, Label: "Member pages", Noun: "members", TestID: "members"}
		for _, mem := range list.Members {
			vm.Rows = append(vm.Rows, s.memberRow(c, mem, owners, list.LastActive[mem.UserID], now))
		}
		self := pd.Self
		leave := models.MemberPermissions{Actor: actor(c), Target: self, Owners: owners}.Leave()
		vm.Self = &views.SelfVM{Role: self.Role.Label(), OnlyOwner: errors.Is(leave, models.ErrConflict)}
		seats := pd.Seats
		limit := m.Tier.Limits().Members
		vm.Seats = views.MeterVM{Key: "seats", Label: "Seats: members and pending invitations", Used: models.FormatCount(seats),
			Limit: limit.String(), Percent: limit.Percent(seats), Level: limitLevel(limit.Percent(seats))}
		if soloOwner(seats, owners) {
			vm.Seats.Level = ""
		}
		vm.SeatNotice = seatNotice(seats, owners, limit, m)
		vm.Pending, vm.Expired = pd.Pending, pd.Expired
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

// memberFilter reads the member list's search, role filter, order and page from the query
// string; what is not one of them is the default (every role, owners first).
func memberFilter(c echo.Context) models.MemberFilter {
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	f := models.MemberFilter{Query: q}
	if r, ok := models.ParseRole(c.QueryParam("role")); ok {
		f.Role = r
	}
	f.Sort, f.Desc = models.ParseMemberSort(c.QueryParam("sort"))
	f.Page, _ = strconv.Atoi(c.QueryParam("page"))
	return f
}

// memberRow is one member as the signed-in member may see and handle them: the model's
// MemberPermissions decide, so the page offers exactly what would be allowed (owners is the
// workspace's owner count).
func (s *Server) memberRow(c echo.Context, mem models.Member, owners int, lastActive, now time.Time) views.MemberRowVM {
	m, me := membership(c), currentUser(c)
	r := views.MemberRowVM{Slug: m.Slug, CSRF: s.csrfToken(c.Request().Context()), UserID: mem.UserID.String(),
		Role: string(mem.Role), RoleLabel: mem.Role.Label(), Joined: mem.CreatedAt,
		LastActive: lastActive, IsSelf: mem.UserID == me.ID, TwoFactor: mem.TwoFactor}
	if mem.User != nil {
		r.Name, r.Email = mem.User.DisplayName(), mem.User.Email
	}
	perms := models.MemberPermissions{Actor: actor(c), Target: &mem, Owners: owners}
	for _, role := range perms.RoleChoices() {
		r.RoleOptions = append(r.RoleOptions, views.RoleOption{Value: string(role), Label: role.Label(), Selected: role == mem.Role})
	}
	r.CanChangeRole = len(r.RoleOptions) > 1
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
	var x membersExtras
	var link views.InvitationLink
	if !isHTMX(c) && s.takeSecret(c, "invitation", &link) {
		c.Response().Header().Set("Cache-Control", "no-store")
		x.link = &link
	}
	var invite formBack
	if !isHTMX(c) && s.takeForm(c, "invite", &invite) {
		x.invite = views.InviteForm{Email: invite.Values["email"], Role: invite.Values["role"], Errors: invite.Errors}
	}
	vm, err := s.membersPage(c, x)
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

// targetMember reads the member of the URL with the workspace's owner count and what the
// signed-in member may do to them.
func (s *Server) targetMember(ctx context.Context, c echo.Context, tn *models.Tenant, id uuid.UUID) (*models.Member, models.MemberPermissions, error) {
	mem, err := models.MemberByUserID(ctx, tn, id)
	if err != nil {
		return nil, models.MemberPermissions{}, err
	}
	owners, err := models.CountOwners(ctx, tn)
	if err != nil {
		return nil, models.MemberPermissions{}, err
	}
	return mem, models.MemberPermissions{Actor: actor(c), Target: mem, Owners: owners}, nil
}

// memberRoleDialog offers each role the signed-in member may give, with what it allows: in the
// members page's dialog, or as a page of its own without JavaScript.
func (s *Server) memberRoleDialog(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	m := membership(c)
	vm := views.RolePage{Frame: s.frame(c, "Change role", "members"), InDialog: isHTMX(c), Action: c.Request().URL.Path,
		Cancel: paths.Members.URL(m.Slug), RowID: views.MemberRowVM{UserID: id.String()}.ID(), IsSelf: id == currentUser(c).ID}
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, perms, err := s.targetMember(ctx, c, tn, id)
		if err != nil {
			return err
		}
		vm.Name, vm.Email, vm.CurrentLabel = mem.User.DisplayName(), mem.User.Email, mem.Role.Label()
		for _, r := range perms.RoleChoices() {
			vm.Roles = append(vm.Roles, views.RoleChoice{Value: string(r), Label: r.Label(),
				Description: views.RoleDescriptions[string(r)], Selected: r == mem.Role})
		}
		if vm.Roles == nil {
			return perms.ChangeRole(models.RoleViewer) // says why not
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.RoleView(vm), views.RolePanel(vm))
}

// memberRoleUpdate changes a member's role. htmx gets the member's row again: with the new role,
// or with the refusal and the role they still have. Without JavaScript it ends in a redirect.
func (s *Server) memberRoleUpdate(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	role, _ := models.ParseRole(c.FormValue("role"))
	base := paths.Members.URL(membership(c).Slug)
	changeErr := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		return models.ChangeRole(ctx, tn, actor(c), id, role, s.Now())
	})
	if changeErr != nil && !isHTMX(c) {
		if isNotFound(changeErr) {
			return changeErr
		}
		_, _, msg := classify(changeErr)
		s.flashError(c, msg)
		return s.redirect(c, base)
	}
	if changeErr == nil && id == currentUser(c).ID {
		// Your own role changed: the whole page offers different things now.
		s.flash(c, "Your role is now "+role.Label()+".")
		return s.redirect(c, base)
	}
	var row views.MemberRowVM
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, perms, err := s.targetMember(ctx, c, tn, id)
		if err != nil {
			return err
		}
		seen, err := models.LastActive(ctx, tn, []models.Member{*mem})
		row = s.memberRow(c, *mem, perms.Owners, seen[mem.UserID], s.Now())
		return err
	})
	if err != nil {
		return err
	}
	if changeErr != nil {
		status, _, msg := classify(changeErr)
		if status >= 500 {
			return changeErr
		}
		row.Error = msg
		c.Response().Header().Set("X-Atrium-Swap", "refusal")
		return s.render(c, status, views.MemberRow(row), nil)
	}
	if isHTMX(c) {
		row.Saved = true
		return s.render(c, http.StatusOK, views.MemberRow(row), nil)
	}
	s.flash(c, row.Name+" is now "+role.Label()+".")
	return s.redirect(c, base)
}

// confirmed reports whether a destructive form came with its confirmation (the confirmation
// dialog's or page's form sends it).
func confirmed(c echo.Context) bool { return c.FormValue("confirm") == "yes" }

// confirmPanel asks before a destructive action: the panel for the page's dialog, or a page.
func (s *Server) confirmPanel(c echo.Context, vm views.ConfirmPage) error {
	vm.InDialog = isHTMX(c)
	return s.render(c, http.StatusOK, views.ConfirmView(vm), views.ConfirmPanel(vm))
}

// askFirst answers a destructive POST that came without its confirmation with a redirect to the
// page that asks (the same address, read with GET).
func (s *Server) askFirst(c echo.Context) error {
	return s.redirect(c, c.Request().URL.Path)
}

// memberRemoveConfirm asks before taking a member out of the workspace.
func (s *Server) memberRemoveConfirm(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	m := membership(c)
	var name string
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, perms, err := s.targetMember(ctx, c, tn, id)
		if err != nil {
			return err
		}
		name = mem.User.DisplayName()
		return perms.Remove()
	})
	if err != nil {
		return err
	}
	return s.confirmPanel(c, views.ConfirmPage{Frame: s.frame(c, "Remove member", "members"), Heading: "Remove " + name + "?",
		Message: name + " loses access to " + m.Name + " at once, and the API keys they made here are revoked.",
		Action:  c.Request().URL.Path, Button: "Remove " + name, Cancel: paths.Members.URL(m.Slug)})
}

// memberRemove takes a member out of the workspace once confirmed.
func (s *Server) memberRemove(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	if !confirmed(c) {
		return s.askFirst(c)
	}
	m := membership(c)
	var name string
	err = s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, err := models.MemberByUserID(ctx, tn, id)
		if err != nil {
			return err
		}
		name = mem.User.DisplayName()
		return models.RemoveMember(ctx, tn, actor(c), id, s.Now())
	})
	if err != nil {
		return err
	}
	s.flash(c, name+" was removed from "+m.Name+".")
	return s.redirect(c, paths.Members.URL(m.Slug))
}

// memberTransferDialog asks the owner's password before handing ownership to a member.
func (s *Server) memberTransferDialog(c echo.Context) error {
	id, err := memberParam(c)
	if err != nil {
		return err
	}
	vm, err := s.transferPage(c, id)
	if err != nil {
		return err
	}
	var back formBack
	if !isHTMX(c) && s.takeForm(c, "transfer:"+id.String(), &back) {
		vm.Error = back.Errors["password"] // a refused password comes back here after its redirect
	}
	return s.render(c, http.StatusOK, views.TransferView(vm), views.TransferPanel(vm))
}

// transferPage is the transfer's panel for member id, or the reason it is not offered.
func (s *Server) transferPage(c echo.Context, id uuid.UUID) (views.TransferPage, error) {
	m := membership(c)
	vm := views.TransferPage{Frame: s.frame(c, "Transfer ownership", "members"), InDialog: isHTMX(c),
		Action: paths.MemberTransfer.URL(m.Slug, id.String()), Cancel: paths.Members.URL(m.Slug)}
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		mem, perms, err := s.targetMember(ctx, c, tn, id)
		if err != nil {
			return err
		}
		vm.Name = mem.User.DisplayName()
		return perms.Transfer()
	})
	return vm, err
}

// memberTransfer hands ownership to another member after the owner types their password again.
// A wrong password answers the dialog's panel with the error (htmx), or redirects back to the
// transfer page, which shows it.
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
		return models.TransferOwnership(ctx, tn, actor(c), id, c.FormValue("password"), s.Now())
	})
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		if !isHTMX(c) {
			return s.refuseForm(c, "transfer:"+id.String(), paths.MemberTransfer.URL(m.Slug, id.String()),
				formBack{Errors: map[string]string{"password": ve.Fields["password"]}})
		}
		vm, err := s.transferPage(c, id)
		if err != nil {
			return err
		}
		vm.Error = ve.Fields["password"]
		return s.render(c, http.StatusUnprocessableEntity, views.TransferView(vm), views.TransferPanel(vm))
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

// workspaceLeaveConfirm asks before the signed-in member leaves the workspace.
func (s *Server) workspaceLeaveConfirm(c echo.Context) error {
	m := membership(c)
	return s.confirmPanel(c, views.ConfirmPage{Frame: s.frame(c, "Leave workspace", "members"), Heading: "Leave " + m.Name + "?",
		Message: "You lose access at once, and the API keys you made here are revoked. To come back you need a new invitation.",
		Action:  c.Request().URL.Path, Button: "Leave " + m.Name, Cancel: paths.Members.URL(m.Slug)})
}

// workspaceLeave takes the signed-in member out of the workspace after a confirmation.
func (s *Server) workspaceLeave(c echo.Context) error {
	m := membership(c)
	if !confirmed(c) {
		return s.askFirst(c)
	}
	err := s.inWorkspace(c, func(ctx context.Context, tn *models.Tenant) error {
		return models.LeaveWorkspace(ctx, tn, actor(c), s.Now())
	})
	if err != nil {
		return err
	}
	if err := s.renewSession(c); err != nil {
		return err
	}
	s.flash(c, "You left "+m.Name+".")
	return s.redirect(c, paths.Workspaces.URL())
}
