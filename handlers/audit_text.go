package handlers

import (
	"fmt"
	"slices"
	"strings"

	"atrium/models"
	"atrium/views"
)

// auditActionLabels name the actions for people, in the log's filter.
var auditActionLabels = map[string]string{
	"member.role_change":         "Role changed",
	"member.remove":              "Member removed",
	"member.leave":               "Member left",
	"ownership.transfer":         "Ownership transferred",
	"invitation.create":          "Invitation sent",
	"invitation.resend":          "Invitation resent",
	"invitation.revoke":          "Invitation withdrawn",
	"invitation.accept":          "Invitation accepted",
	"api_key.create":             "API key created",
	"api_key.revoke":             "API key revoked",
	"api_key.update":             "API key controls changed",
	"api_key.roll":               "API key rolled",
	"workspace.create":           "Workspace created",
	"workspace.rename":           "Workspace renamed",
	"workspace.tier_change":      "Tier changed",
	"support.view":               "Support looked",
	"agent.create":               "Agent created",
	"task.quota_exceeded":        "Task refused: agent-minutes",
	"task.concurrent_limit":      "Task refused: concurrency",
	"task.cancel":                "Task cancelled",
	"api.key_rate_limited":       "API calls refused: key's limit",
	"api.ip_not_allowed":         "API calls refused: address",
	"api.rate_limited":           "API calls refused: hourly limit",
	"quota_alerts.update":        "Quota alerts changed",
	"workspace.delete_scheduled": "Workspace deleted (restorable)",
	"workspace.restore":          "Workspace restored",
	"workspace.export":           "Export started",
	"workspace.export_download":  "Export downloaded",
}

// auditActionLabel names an action for people; an action without a name shows as recorded.
func auditActionLabel(action string) string {
	if l, ok := auditActionLabels[action]; ok {
		return l
	}
	return action
}

// auditActor names who acted, briefly: a person's name, an API key's name with its prefix.
func auditActor(e *models.AuditEntry) string {
	switch {
	case e.ActorName != "":
		return e.ActorName
	case e.ActorEmail != "":
		return e.ActorEmail
	case e.ActorUserID != nil:
		return "A former user"
	case e.ActorKeyPrefix != "":
		return "API key " + e.ActorKeyName + " (" + e.ActorKeyPrefix + ")"
	case e.ActorKeyID != nil:
		return "A deleted API key"
	}
	return "Atrium"
}

// auditTarget names the event's target: a person by name, a key by name with its prefix.
func auditTarget(e *models.AuditEntry) string {
	switch {
	case e.TargetName != "":
		return e.TargetName
	case e.TargetKeyName != "":
		return e.TargetKeyName + " (" + e.Target + ")"
	}
	if name, ok := e.Details["name"].(string); ok && name != "" && strings.HasPrefix(e.Action, "api_key.") {
		return name + " (" + e.Target + ")"
	}
	return e.Target
}

// detail reads details[outer][inner] (inner "" for details[outer]) as text.
func detail(e *models.AuditEntry, outer, inner string) string {
	v, ok := e.Details[outer]
	if inner != "" {
		m, _ := v.(map[string]any)
		v, ok = m[inner]
	}
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// roleLabel is a role's recorded name as people say it.
func roleLabel(s string) string {
	if r, ok := models.ParseRole(s); ok {
		return r.Label()
	}
	return s
}

// tierLabel is a tier's recorded name as people say it.
func tierLabel(s string) string { return models.Tier(s).Label() }

// possessive is "Mia Member's".
func possessive(name string) string {
	if strings.HasSuffix(name, "s") {
		return name + "'"
	}
	return name + "'s"
}

// auditSentence says an event as a sentence: "Olivia Owner changed Mia Member's role from Member
// to Admin." The machine form stays in the CSV download.
func auditSentence(e *models.AuditEntry) string {
	who, what := auditActor(e), auditTarget(e)
	var s string
	switch e.Action {
	case "member.role_change":
		s = fmt.Sprintf("%s changed %s role from %s to %s", who, possessive(what),
			roleLabel(detail(e, "before", "role")), roleLabel(detail(e, "after", "role")))
	case "member.remove":
		s = fmt.Sprintf("%s removed %s (%s) from the workspace", who, what, roleLabel(detail(e, "before", "role")))
		if n := detail(e, "api_keys_revoked", ""); n != "" && n != "0" {
			s += "; their API keys were revoked (" + n + ")"
		}
	case "member.leave":
		s = who + " left the workspace"
		if n := detail(e, "api_keys_revoked", ""); n != "" && n != "0" {
			s += "; their API keys were revoked (" + n + ")"
		}
	case "ownership.transfer":
		s = fmt.Sprintf("%s made %s owner and became admin", who, what)
	case "invitation.create":
		s = fmt.Sprintf("%s invited %s as %s", who, what, roleLabel(detail(e, "after", "role")))
		s = strings.TrimSuffix(s, " as ")
	case "invitation.resend":
		s = fmt.Sprintf("%s sent the invitation to %s again", who, what)
	case "invitation.revoke":
		s = fmt.Sprintf("%s withdrew the invitation to %s", who, what)
	case "invitation.accept":
		s = fmt.Sprintf("%s accepted an invitation and joined as %s", who, roleLabel(detail(e, "after", "role")))
	case "api_key.create":
		s = fmt.Sprintf("%s created the API key %s", who, what)
	case "api_key.revoke":
		s = fmt.Sprintf("%s revoked the API key %s", who, what)
	case "api_key.roll":
		s = fmt.Sprintf("%s rolled the API key %s", who, what)
	case "api_key.update":
		s = fmt.Sprintf("%s changed the controls of the API key %s", who, what)
	case "workspace.create":
		s = who + " created the workspace"
	case "workspace.rename":
		s = fmt.Sprintf("%s renamed the workspace from %q to %q", who, detail(e, "before", "name"), detail(e, "after", "name"))
	case "workspace.tier_change":
		s = fmt.Sprintf("%s changed the tier from %s to %s", who, tierLabel(detail(e, "before", "tier")), tierLabel(detail(e, "after", "tier")))
	case "workspace.delete_scheduled":
		s = who + " deleted the workspace; owners can restore it"
		if by := detail(e, "restore_by", ""); by != "" {
			s += " until " + strings.Replace(strings.TrimSuffix(by, "Z"), "T", " ", 1) + " UTC"
		}
	case "workspace.restore":
		s = who + " restored the workspace after its deletion"
	case "workspace.export":
		s = who + " started an export of the workspace"
	case "workspace.export_download":
		s = who + " downloaded an export of the workspace"
	case "support.view":
		s = who + " (Atrium support) looked at the workspace"
		if r := detail(e, "reason", ""); r != "" {
			s += fmt.Sprintf(" for ticket %s: %q", detail(e, "ticket", ""), r)
		}
	case "support.access":
		s = fmt.Sprintf("%s (Atrium support) opened the workspace for %s minutes for ticket %s: %q", who,
			detail(e, "minutes", ""), detail(e, "ticket", ""), detail(e, "reason", ""))
	case "workspace.notify_support_access":
		if detail(e, "after", "notify_support_access") == "true" {
			s = who + " asked for an email to the owners at every support access"
		} else {
			s = who + " stopped the owners' email at support access"
		}
	case "agent.create":
		s = fmt.Sprintf("%s created the agent %s", who, detail(e, "name", ""))
	case "task.quota_exceeded":
		s = fmt.Sprintf("A task start by %s was refused: the %s agent-minutes of this month are used", who, detail(e, "limit", ""))
	case "task.concurrent_limit":
		s = fmt.Sprintf("A task start by %s was refused: at most %s tasks may run at once", who, detail(e, "limit", ""))
	case "task.cancel":
		// The task by the end of its id, as the task list shows it.
		short := e.Target
		if len(short) > 8 {
			short = "…" + short[len(short)-8:]
		}
		s = fmt.Sprintf("%s cancelled the task %s", who, short)
		switch n := detail(e, "agent_minutes", ""); n {
		case "":
		case "1":
			s += "; 1 agent-minute counted"
		default:
			s += "; " + n + " agent-minutes counted"
		}
	case "quota_alerts.update":
		s = who + " changed the quota alerts"
	case "api.rate_limited":
		s = fmt.Sprintf("API calls by %s were refused: the %s calls of this hour are used", who, detail(e, "limit", ""))
	case "api.key_rate_limited":
		s = fmt.Sprintf("API calls by %s were refused: the key's own %s calls of this hour are used", who, detail(e, "limit", ""))
	case "api.ip_not_allowed":
		s = fmt.Sprintf("API calls by %s were refused: %s is not among the key's allowed addresses", who, orText(e.IP, "the caller's address"))
	default:
		s = who + ": " + auditActionLabel(e.Action)
		if e.Target != "" {
			s += " (" + what + ")"
		}
	}
	return s + "."
}

// auditDetails are the event's details for the folded view: "key: value" lines in key order.
func auditDetails(e *models.AuditEntry) []views.AuditDetail {
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]views.AuditDetail, 0, len(keys)+1)
	for _, k := range keys {
		out = append(out, views.AuditDetail{Key: strings.ReplaceAll(k, "_", " "), Value: detailValue(e.Details[k])})
	}
	return out
}

// detailValue writes a detail's value: text as it is, a map as "key: value, …", nothing as "—".
func detailValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+detailValue(x[k]))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// orText is s, or alt when s is empty.
func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
