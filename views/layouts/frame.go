// Package layouts holds the page frames every page renders inside.
package layouts

import (
	"net/url"
	"strings"

	"atrium/handlers/paths"
)

// Frame is what the layout needs to know about the request; every page view model carries one.
type Frame struct {
	Title     string
	CSRF      string
	Nonce     string
	Flash     string
	FlashKind string // "ok" or "error"
	User      *UserInfo
	Workspace *WorkspaceInfo // the workspace the page is in, if any
	Switcher  []WorkspaceLink
	Nav       string // the active navigation item
	Support   bool   // support mode: read-only look at a workspace
	// ReadFrom says where a page's heavy reads came from when a read replica is configured.
	ReadFrom *ReadFrom
}

// ReadFrom is the source of a page's numbers when a read replica is configured: the replica, as
// of a moment, or the primary, because the replica is down or behind.
type ReadFrom struct {
	Replica bool
	AsOf    string // when Replica: "14:03:07 UTC"
	Reason  string // when not: why the primary answered
}

// UserInfo is the signed-in user as the frame shows them.
type UserInfo struct {
	Name      string
	Email     string
	IsSupport bool
}

// WorkspaceInfo is the current workspace and what the user may do there.
type WorkspaceInfo struct {
	Name string
	Slug string
	Tier string
	Role string
	// Nav is the workspace navigation the role may use, in order (built from the route table).
	Nav []NavItem
	// Notice is the one compact notice the frame shows when a limit refuses work; nil otherwise.
	Notice *Notice
}

// Notice is a limit that refuses work, with where to look and, for owners, where to change tier.
type Notice struct {
	Text     string
	UsageURL string
	TierURL  string // empty unless the person may change the tier
	// RunningURL is the running tasks, when the concurrent tasks' limit is one that refuses.
	RunningURL string
}

// WorkspaceLink is one entry of the workspace switcher.
type WorkspaceLink struct {
	Name    string
	Slug    string
	Role    string
	Current bool
}

// NavItem is one entry of the left navigation.
type NavItem struct {
	Key   string
	Label string
	Path  string
}

// DocumentTitle is the browser tab's title: the page, then the workspace it is in, then Atrium
// ("Members · Demo Robotics · Atrium"), so that tabs of several workspaces tell apart.
func (f Frame) DocumentTitle() string {
	parts := []string{}
	if f.Title != "" {
		parts = append(parts, f.Title)
	}
	if f.Workspace != nil && f.Workspace.Name != f.Title {
		parts = append(parts, f.Workspace.Name)
	}
	return strings.Join(append(parts, "Atrium"), " · ")
}

// NavItems lists the workspace navigation the role may see.
func (f Frame) NavItems() []NavItem {
	if f.Workspace == nil {
		return nil
	}
	return f.Workspace.Nav
}

// switcherURL is the switcher's search, which marks the current workspace in its answer too.
func switcherURL(f Frame) string {
	if f.Workspace == nil {
		return paths.Switcher.URL()
	}
	return paths.Switcher.URL() + "?current=" + url.QueryEscape(f.Workspace.Slug)
}
