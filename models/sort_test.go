package models_test

import (
	"testing"

	"atrium/models"
)

// TestParseSort: one form for every sortable list, a key with a leading "-" for descending; a key
// the list does not have is its default order, ascending; FormatSort writes what ParseSort reads.
func TestParseSort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		key  string
		desc bool
	}{
		{"", "name", false}, {"name", "name", false}, {"-name", "name", true},
		{"-agent_minutes_pct", "agent_minutes_pct", true}, {"members", "members", false},
		{"--members", "name", false}, {"-", "name", false}, {"nope", "name", false}, {"-nope", "name", false},
		{"Members", "name", false},
	} {
		key, desc := models.ParseSort(tc.in, models.SupportSortKeys, "name")
		if key != tc.key || desc != tc.desc {
			t.Errorf("ParseSort(%q) = %q, %v; want %q, %v", tc.in, key, desc, tc.key, tc.desc)
		}
		if tc.key != "name" || tc.in == "name" || tc.in == "-name" {
			if back := models.FormatSort(key, desc); back != tc.in && tc.in != "" {
				t.Errorf("FormatSort(%q, %v) = %q, want %q", key, desc, back, tc.in)
			}
		}
	}
	if o, desc := models.ParseMemberSort("-joined"); o != models.MemberSortJoined || !desc {
		t.Errorf("members -joined: %q %v", o, desc)
	}
	// Every key of the support table orders by something, and every order has its key.
	if len(models.SupportSortKeys) != len(models.SupportSorts) {
		t.Fatalf("%d keys for %d orders", len(models.SupportSortKeys), len(models.SupportSorts))
	}
	for _, k := range models.SupportSortKeys {
		if _, ok := models.SupportSorts[k]; !ok {
			t.Errorf("key %q orders by nothing", k)
		}
	}
}
