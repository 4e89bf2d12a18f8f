package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"atrium/models"
	"atrium/models/seed"
	"atrium/models/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestVersionAndBadConfig(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"atrium", "version"}, env(nil), strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "atrium ") {
		t.Fatalf("version printed %q", out.String())
	}
	for name, vars := range map[string]map[string]string{
		"env":     {"ATRIUM_ENV": "prod"},
		"proxies": {"ATRIUM_TRUSTED_PROXIES": "10.0.0.0/8,nonsense"},
		"idle":    {"ATRIUM_SESSION_IDLE": "forever"},
		"base":    {"ATRIUM_BASE_URL": "atrium.example.com"},
		"scheme":  {"ATRIUM_BASE_URL": "ftp://atrium.example.com"},
		"pooler":  {"ATRIUM_DB_POOLER": "session"},
		"lag":     {"ATRIUM_REPLICA_MAX_LAG": "soon"},
	} {
		err := run(context.Background(), []string{"atrium", "version"}, env(vars), strings.NewReader(""), &out)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: want a one-line error, got %v", name, err)
		}
	}
	err := run(context.Background(), []string{"atrium", "migrate"}, env(map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x"}), strings.NewReader(""), &out)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("unreachable database: want one line naming DATABASE_URL, got %q", err)
	}
}

// TestPoolerNeedsTheRuntimeRolesOwnLogin: behind a transaction pooler the runtime role cannot be
// switched to per connection, so ATRIUM_DB_POOLER=transaction without APP_DATABASE_URL is refused
// in one line naming it (after migrating: DATABASE_URL is the direct owner connection).
func TestPoolerNeedsTheRuntimeRolesOwnLogin(t *testing.T) {
	d := testdb.Get(t)
	var out bytes.Buffer
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL, "ATRIUM_DB_POOLER": "transaction"})
	err := run(context.Background(), []string{"atrium", "migrate"}, vars, strings.NewReader(""), &out)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "APP_DATABASE_URL") {
		t.Fatalf("want one line naming APP_DATABASE_URL, got %v", err)
	}
}

// TestProductionNeedsABaseURL: links in mail must not come from a request's Host, so production
// refuses to start without ATRIUM_BASE_URL, in one line; development defaults to the address.
func TestProductionNeedsABaseURL(t *testing.T) {
	var out bytes.Buffer
	vars := map[string]string{"ATRIUM_ENV": "production", "ATRIUM_ADDR": "127.0.0.1:0", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/x"}
	err := run(context.Background(), []string{"atrium", "serve"}, env(vars), strings.NewReader(""), &out)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "ATRIUM_BASE_URL") {
		t.Fatalf("want one line naming ATRIUM_BASE_URL, got %v", err)
	}
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080", ":8080": "http://localhost:8080",
		"0.0.0.0:9000": "http://localhost:9000", "[::1]:8080": "http://[::1]:8080",
	} {
		if got := devBaseURL(addr); got != want {
			t.Errorf("devBaseURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestUserCreateReadsPasswordFromStdin(t *testing.T) {
	d := testdb.Get(t)
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL})
	var out bytes.Buffer
	local := "staff-" + strings.ToLower(rand.Text()[:8])
	args := []string{"atrium", "user", "create", "--email", strings.ToUpper(local[:1]) + local[1:] + "@Example.com", "--name", "Sam", "--support"}
	if err := run(context.Background(), args, vars, strings.NewReader("a long staff password\n"), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created support user "+local+"@example.com") {
		t.Fatalf("output %q", out.String())
	}
	if !strings.Contains(out.String(), "/account/two-factor") || !strings.Contains(out.String(), "authenticator app") {
		t.Fatalf("no two-factor enrolment instructions: %q", out.String())
	}
	u, err := models.Authenticate(context.Background(), d.App, local+"@example.com", "a long staff password", time.Now())
	if err != nil || !u.IsSupport() || u.Name != "Sam" {
		t.Fatalf("created user: %+v, %v", u, err)
	}
	err = run(context.Background(), []string{"atrium", "user", "create", "--email", "weak@example.com"}, vars, strings.NewReader("short\n"), &out)
	if err == nil || !strings.Contains(err.Error(), "12 characters") {
		t.Fatalf("weak password: %v", err)
	}
}

func TestSeedDemoOnce(t *testing.T) {
	d := testdb.Get(t)
	vars := env(map[string]string{"DATABASE_URL": d.OwnerURL})
	var out bytes.Buffer
	for i := 0; i < 2; i++ {
		if err := run(context.Background(), []string{"atrium", "seed"}, vars, strings.NewReader(""), &out); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "seeded the demo workspace: sign in as "+seed.DemoOwnerEmail) {
		t.Fatalf("first seed did not say how to sign in: %q", out.String())
	}
	if !strings.Contains(out.String(), "exists already") {
		t.Fatalf("second seed did not say it exists: %q", out.String())
	}
	if err := run(context.Background(), []string{"atrium", "seed", "--demo"}, vars, strings.NewReader(""), &out); err == nil {
		t.Fatal("seed accepted an argument it does not have")
	}
	u, err := models.Authenticate(context.Background(), d.App, seed.DemoOwnerEmail, seed.DemoPassword, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	list, err := models.UserWorkspaces(context.Background(), d.App, u.ID)
	if err != nil || len(list) != 1 || list[0].Slug != seed.DemoSlug || list[0].Role != models.RoleOwner {
		t.Fatalf("demo owner's workspaces: %+v %v", list, err)
	}
}

// TestMemoryLimitFollowsTheHashBudget: serve sets the runtime's soft memory limit to the password
// hashing budget plus a fixed headroom, so a burst of log-ins does not let the heap swing to twice
// the hashes in flight; an operator's GOMEMLIMIT wins.
func TestMemoryLimitFollowsTheHashBudget(t *testing.T) {
	defer models.SetHashMemory(models.DefaultHashMemory)
	c, err := readConfig(env(map[string]string{"ATRIUM_HASH_MEMORY_MB": "57"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(57+64) << 20; c.memoryLimit != want {
		t.Errorf("memory limit with a 57 MiB hashing budget: %d, want %d", c.memoryLimit, want)
	}
	c, err = readConfig(env(map[string]string{"ATRIUM_HASH_MEMORY_MB": "57", "GOMEMLIMIT": "1GiB"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.memoryLimit != 0 {
		t.Errorf("with GOMEMLIMIT set, serve still sets a limit of its own: %d", c.memoryLimit)
	}
}

// TestGCPercentUnlessGOGC: serve lets the heap grow to five times what is live between
// collections (the memory limit bounds it); an operator's GOGC wins.
func TestGCPercentUnlessGOGC(t *testing.T) {
	c, err := readConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.gcPercent != models.GCPercent || models.GCPercent <= 100 {
		t.Errorf("collector target: %d (models.GCPercent %d), want above Go's default of 100", c.gcPercent, models.GCPercent)
	}
	if c, err = readConfig(env(map[string]string{"GOGC": "50"})); err != nil || c.gcPercent != 0 {
		t.Errorf("with GOGC set, serve still sets a target of its own: %d (%v)", c.gcPercent, err)
	}
}
