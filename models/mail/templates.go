package mail

import (
	"fmt"
	"strings"
	"time"

	"atrium/models"
)

// when formats a time for a message.
func when(t time.Time) string { return t.UTC().Format("Jan 2, 2006 15:04 UTC") }

// PasswordReset carries a password reset link.
func PasswordReset(to, link string, expires time.Time) Message {
	return Message{
		To:      to,
		Subject: "Reset your Atrium password",
		Body: fmt.Sprintf("Someone (we hope you) asked to reset the password of the Atrium account %s.\n\n"+
			"Choose a new password here:\n%s\n\n"+
			"The link works once, until %s. Setting a new password logs out every session of the account.\n"+
			"If you did not ask for this, ignore this email: your password stays as it is.\n",
			to, link, when(expires)),
	}
}

// PasswordChanged tells a person their password was changed.
func PasswordChanged(to string, at time.Time) Message {
	return Message{
		To:      to,
		Subject: "Your Atrium password was changed",
		Body: fmt.Sprintf("The password of the Atrium account %s was changed on %s, and every session of the account was logged out.\n\n"+
			"If this was you, there is nothing to do.\n"+
			"If it was not, reset your password now with \"Forgot password?\" on the log-in page, and tell your workspace's owner.\n",
			to, when(at)),
	}
}

// VerifyEmail carries the link that confirms a new account's address.
func VerifyEmail(to, link string, expires time.Time) Message {
	return Message{
		To:      to,
		Subject: "Confirm your email address for Atrium",
		Body: fmt.Sprintf("Welcome to Atrium. Confirm that %s is your address by opening this link:\n%s\n\n"+
			"Until then you can use the console, but not create API keys or invite anyone.\n"+
			"The link works until %s. If you did not sign up, ignore this email.\n",
			to, link, when(expires)),
	}
}

// EmailChange carries the link that moves an account to a new address; it goes to the new one.
func EmailChange(to, old, link string, expires time.Time) Message {
	return Message{
		To:      to,
		Subject: "Confirm your new email address for Atrium",
		Body: fmt.Sprintf("The Atrium account %s asked to use %s as its address from now on.\n\n"+
			"Confirm the change by opening this link:\n%s\n\n"+
			"Nothing changes until you do. The link works until %s. If you did not ask for this, ignore this email.\n",
			old, to, link, when(expires)),
	}
}

// EmailChangeNotice tells the old address that a change to a new one was asked for.
func EmailChangeNotice(to, newAddress string, at time.Time) Message {
	return Message{
		To:      to,
		Subject: "Your Atrium email address is about to change",
		Body: fmt.Sprintf("On %s someone signed in to the Atrium account %s asked to change its address to %s.\n"+
			"The change takes effect only when the link sent to %s is opened.\n\n"+
			"If this was not you, change your password now and tell your workspace's owner.\n",
			when(at), to, newAddress, newAddress),
	}
}

// QuotaAlert tells a recipient that a workspace's use crossed a threshold of one of its tier's
// limits, with what happens at the limit and where to look.
func QuotaAlert(to, workspace string, tier models.Tier, a *models.QuotaAlert, usageLink, settingsLink string) Message {
	what := fmt.Sprintf("%d %% of its %s limit", a.Threshold, strings.ToLower(a.Kind.Label()))
	var b strings.Builder
	fmt.Fprintf(&b, "The workspace %q on Atrium has reached %s (%s tier): %s of %s used in %s.\n\n",
		workspace, what, tier.Label(), models.FormatCount(a.Used), models.FormatCount(a.Limit), a.Kind.Period(a.PeriodStart))
	switch a.Kind {
	case models.LimitAPICalls:
		b.WriteString("At the limit, API calls are refused (429) until the hour is over.\n")
	case models.LimitAgentMinutes:
		b.WriteString("At the limit, new tasks are refused (402) until the month starts again.\n")
	case models.LimitConcurrentTasks:
		b.WriteString("At the limit, new tasks are refused (429) until a running one ends.\n")
	case models.LimitMembers:
		b.WriteString("At the limit, new invitations are refused until a seat is free.\n")
	}
	b.WriteString("A bigger tier raises the limit.\n")
	if usageLink != "" {
		fmt.Fprintf(&b, "\nUsage: %s\n", usageLink)
	}
	if settingsLink != "" {
		fmt.Fprintf(&b, "Change these alerts or who gets them: %s\n", settingsLink)
	}
	return Message{To: to, Subject: fmt.Sprintf("%s: %s reached", workspace, what), Body: b.String()}
}

// WorkspaceDeleted tells an owner that a workspace was deleted and how to restore it.
func WorkspaceDeleted(to, name, slug, by, restoreURL string, restoreBy time.Time) Message {
	return Message{
		To:      to,
		Subject: "The workspace " + name + " was deleted",
		Body: fmt.Sprintf("%s deleted the Atrium workspace %s (/w/%s). Its members no longer see it and its API keys no longer work.\n\n"+
			"Owners can restore it, with everything in it, until %s: open your workspace list and choose \"Restore\":\n%s\n\n"+
			"After that it is erased for good. If this was a mistake, restore it now.\n",
			by, name, slug, when(restoreBy), restoreURL),
	}
}

// SupportAccess tells an owner that Atrium support opened their workspace, why, and for how long.
func SupportAccess(to, workspace, staff, reason, ticket string, from, until time.Time) Message {
	return Message{
		To:      to,
		Subject: "Atrium support opened " + workspace,
		Body: fmt.Sprintf("%s of Atrium support opened the workspace %s on %s, with access until %s.\n\n"+
			"Reason: %s\nTicket: %s\n\n"+
			"Support sees the workspace's usage and member counts, read-only; every look is in the workspace's audit log.\n"+
			"You get this email because an owner asked for one at every support access (the workspace's settings).\n",
			staff, workspace, when(from), when(until), reason, ticket),
	}
}
