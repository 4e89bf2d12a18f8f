package handlers

import "atrium/models"

// Row is one route of the table as the tests see it.
type Row struct {
	Method, Path string
	// Who is "public", "visitor", "signed-in", "member", "support" or "api"; "" for an unknown rule.
	Who        string
	Action     models.Action   // member routes
	Scope      models.KeyScope // API routes
	OwnAccount bool
}

// Table returns the route table, in order.
func Table() []Row {
	names := map[audience]string{whoPublic: "public", whoVisitor: "visitor", whoSignedIn: "signed-in",
		whoMember: "member", whoSupport: "support", whoAPIKey: "api"}
	out := make([]Row, 0, len(table))
	for _, r := range table {
		out = append(out, Row{Method: r.method, Path: r.path.Pattern(), Who: names[r.rule.who],
			Action: r.rule.action, Scope: r.rule.scope, OwnAccount: r.rule.ownAccount})
	}
	return out
}

// NavPaths returns the route pattern of each workspace navigation entry, by key.
func NavPaths() map[string]string {
	out := map[string]string{}
	for _, it := range nav {
		out[it.key] = it.path.Pattern()
	}
	return out
}
