package paths

import "testing"

func TestURLFillsParametersInOrder(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Home.URL(), "/"},
		{Workspace.URL("acme"), "/w/acme"},
		{MemberRole.URL("acme", "0190a1b2"), "/w/acme/members/0190a1b2/role"},
		{APITaskMessages.URL("t1"), "/api/v1/tasks/t1/messages"},
		{Invitation.URL("a b/c?d"), "/invitations/a%20b%2Fc%3Fd"}, // escaped, never a second segment
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if p := Members.Pattern(); p != "/w/:slug/members" {
		t.Errorf("pattern %q", p)
	}
}

// TestWrongParameterCountIsRefused: a pattern whose parameters do not match its type stops the
// program at start, so URL never has a parameter without a value.
func TestWrongParameterCountIsRefused(t *testing.T) {
	for _, f := range []func(){
		func() { p0("/w/:slug") },
		func() { p1("/w/:slug/members/:user_id") },
		func() { p2("/w/:slug") },
		func() { p0("no-slash") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}
