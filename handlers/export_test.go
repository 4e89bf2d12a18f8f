package handlers

// HasRule reports whether the policy table has a rule for "METHOD /path" (for the route walk).
func HasRule(key string) bool {
	_, ok := policy[key]
	return ok
}

// RuleIsAPI reports whether the route is an API-key route.
func RuleIsAPI(key string) bool { return policy[key].who == apiKey }
