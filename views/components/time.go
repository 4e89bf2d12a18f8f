package components

import (
	"context"
	"strconv"
	"time"
)

type nowKey struct{}

// WithNow puts the request's clock reading on ctx: every time a page shows is said relative to it,
// so a page rendered for another date reads the same.
func WithNow(ctx context.Context, now time.Time) context.Context {
	return context.WithValue(ctx, nowKey{}, now)
}

// NowFrom is the clock reading WithNow put on ctx, and false when there is none.
func NowFrom(ctx context.Context) (time.Time, bool) {
	now, ok := ctx.Value(nowKey{}).(time.Time)
	return now, ok
}

// Exact is a time as the console states it exactly: "2026-12-01 20:14:05 UTC".
func Exact(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// Relative says how far t is from now, for people: "just now", "3 min ago", "in 2 days".
func Relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	if d < 45*time.Second {
		return "just now"
	}
	// Each unit rounded to the nearest, the largest that is at least one: a secret that works for
	// another 23 h 59 min is "in 1 day", not "in 23 hours".
	round := func(d, unit time.Duration) int { return int((d + unit/2) / unit) }
	const day = 24 * time.Hour
	n, unit := max(1, round(d, time.Minute)), "min"
	if h := round(d, time.Hour); n >= 60 {
		n, unit = h, "hour"
	}
	if days := round(d, day); unit == "hour" && n >= 24 {
		n, unit = days, "day"
	}
	if months := round(d, 30*day+10*time.Hour); unit == "day" && n >= 30 {
		n, unit = max(1, months), "month"
	}
	if years := round(d, 365*day+6*time.Hour); unit == "month" && n >= 12 {
		n, unit = max(1, years), "year"
	}
	s := strconv.Itoa(n) + " " + unit
	if n != 1 && unit != "min" {
		s += "s"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// relativeText is t relative to ctx's clock; without one, the exact time (never the machine's
// clock, which a page must not read).
func relativeText(ctx context.Context, t time.Time) string {
	if now, ok := NowFrom(ctx); ok {
		return Relative(t, now)
	}
	return Exact(t)
}
