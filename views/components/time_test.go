package components

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRelative(t *testing.T) {
	now := time.Date(2031, 3, 15, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{-44 * time.Second, "just now"},
		{-45 * time.Second, "1 min ago"},
		{-3*time.Minute - 20*time.Second, "3 min ago"},
		{-59 * time.Minute, "59 min ago"},
		{-59*time.Minute - 31*time.Second, "1 hour ago"},
		{-time.Hour, "1 hour ago"},
		{-5*time.Hour - 29*time.Minute, "5 hours ago"},
		{-5*time.Hour - 31*time.Minute, "6 hours ago"},
		{-24 * time.Hour, "1 day ago"},
		{-29 * 24 * time.Hour, "29 days ago"},
		{-30 * 24 * time.Hour, "1 month ago"},
		{-100 * 24 * time.Hour, "3 months ago"},
		{-364 * 24 * time.Hour, "1 year ago"},
		{-3 * 365 * 24 * time.Hour, "3 years ago"},
		{10 * time.Minute, "in 10 min"},
		{2 * 24 * time.Hour, "in 2 days"},
		{23 * time.Hour, "in 23 hours"},
		{24*time.Hour - time.Millisecond, "in 1 day"},
	} {
		if got := Relative(now.Add(c.d), now); got != c.want {
			t.Errorf("Relative(now%+v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestTimeComponent(t *testing.T) {
	now := time.Date(2031, 3, 15, 12, 0, 0, 0, time.UTC)
	at := time.Date(2031, 3, 15, 11, 57, 5, 0, time.FixedZone("X", 3600)) // 10:57:05 UTC
	var b strings.Builder
	if err := Time(at).Render(WithNow(context.Background(), now), &b); err != nil {
		t.Fatal(err)
	}
	want := `<time datetime="2031-03-15T10:57:05Z" title="2031-03-15 10:57:05 UTC">1 hour ago</time>`
	if b.String() != want {
		t.Fatalf("Time = %s\nwant %s", b.String(), want)
	}
	// Without a clock on the context the exact time is shown, never one read from the machine.
	b.Reset()
	if err := Time(at).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ">2031-03-15 10:57:05 UTC</time>") {
		t.Fatalf("Time without a clock = %s", b.String())
	}
	b.Reset()
	if err := TimeOr(nil, "Never").Render(WithNow(context.Background(), now), &b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "Never" {
		t.Fatalf("TimeOr(nil) = %q", b.String())
	}
}
