package models_test

import (
	"context"
	"encoding/json"
	"testing"

	"atrium/models"
	"atrium/models/testdb"
)

// TestAuditDetailsKeepAnyPrintableText: details are stored as jsonb exactly as given, including
// text that looks like a JSON escape (a backslash, then "u0000") and quotes.
func TestAuditDetailsKeepAnyPrintableText(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	tricky := []string{`a\u0000b`, `\\u0000`, `it's "quoted" \ back`, `{"name": "a\u0000"}`, `\'; --`}
	for _, s := range tricky {
		target := models.NewID().String()
		if err := models.RecordPlatform(ctx, d.App, models.Event{At: testdb.Now(t), Action: "test.details", Target: target, Details: map[string]any{"text": s}}); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		var raw string
		if err := d.Owner.NewSelect().Table("platform_events").ColumnExpr("details::text").Where("target = ?", target).Scan(ctx, &raw); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatal(err)
		}
		if got["text"] != s {
			t.Fatalf("stored %q, want %q", got["text"], s)
		}
	}
}
