package models

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Tier is a workspace's plan.
type Tier string

// The tiers, cheapest first.
const (
	TierFree       Tier = "free"
	TierStarter    Tier = "starter"
	TierPro        Tier = "pro"
	TierEnterprise Tier = "enterprise"
)

// Tiers lists every tier, cheapest first.
var Tiers = []Tier{TierFree, TierStarter, TierPro, TierEnterprise}

// ParseTier accepts a tier name in any case.
func ParseTier(s string) (Tier, bool) {
	t := Tier(strings.ToLower(strings.TrimSpace(s)))
	_, ok := tierLimits[t]
	return t, ok
}

// Label is the tier's display name.
func (t Tier) Label() string {
	if t == "" {
		return ""
	}
	return strings.ToUpper(string(t[:1])) + string(t[1:])
}

// Rank orders tiers: a higher rank is a bigger plan.
func (t Tier) Rank() int {
	for i, x := range Tiers {
		if x == t {
			return i
		}
	}
	return -1
}

// Limit is a ceiling on one measure. Unlimited is a real absence of a ceiling, not a big number.
type Limit struct {
	max       int64
	unlimited bool
}

// Max returns a limit of n.
func Max(n int64) Limit { return Limit{max: n} }

// Unlimited is the limit with no ceiling.
var Unlimited = Limit{unlimited: true}

// IsUnlimited reports whether the limit has no ceiling.
func (l Limit) IsUnlimited() bool { return l.unlimited }

// Value returns the ceiling; ok is false when unlimited.
func (l Limit) Value() (n int64, ok bool) { return l.max, !l.unlimited }

// Allows reports whether using more on top of used stays within the limit.
func (l Limit) Allows(used, more int64) bool {
	return l.unlimited || used+more <= l.max
}

// Remaining is what is left under the limit (never negative); ok is false when unlimited.
func (l Limit) Remaining(used int64) (int64, bool) {
	if l.unlimited {
		return 0, false
	}
	return max(l.max-used, 0), true
}

// Percent is used as a share of the limit, 0 when unlimited.
func (l Limit) Percent(used int64) float64 {
	if l.unlimited || l.max == 0 {
		return 0
	}
	return float64(used) * 100 / float64(l.max)
}

// String formats the limit for people: "1,000" or "unlimited".
func (l Limit) String() string {
	if l.unlimited {
		return "unlimited"
	}
	return FormatCount(l.max)
}

// MarshalJSON writes null for unlimited, the number otherwise.
func (l Limit) MarshalJSON() ([]byte, error) {
	if l.unlimited {
		return []byte("null"), nil
	}
	return json.Marshal(l.max)
}

// TierLimits are the four limits of a tier.
type TierLimits struct {
	AgentMinutesPerMonth Limit
	APICallsPerHour      Limit
	ConcurrentTasks      Limit
	Members              Limit
}

var tierLimits = map[Tier]TierLimits{
	TierFree:       {Max(1_000), Max(100), Max(1), Max(1)},
	TierStarter:    {Max(10_000), Max(1_000), Max(5), Max(3)},
	TierPro:        {Max(100_000), Max(10_000), Max(20), Max(10)},
	TierEnterprise: {Unlimited, Unlimited, Unlimited, Unlimited},
}

// Limits returns the tier's limits; an unknown tier gets the free tier's, the safe side.
func (t Tier) Limits() TierLimits {
	if l, ok := tierLimits[t]; ok {
		return l
	}
	return tierLimits[TierFree]
}

// FormatCount writes n with thousands separators.
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Scan lets a Tier come straight from the enum column.
func (t *Tier) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*t = Tier(v)
	case []byte:
		*t = Tier(v)
	default:
		return fmt.Errorf("tier: cannot scan %T", src)
	}
	return nil
}
