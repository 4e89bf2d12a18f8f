package models

import "strings"

// ParseSort reads a list's order as its address carries it, the one form every sortable list
// uses: a key of keys, with a leading "-" for the other direction ("-joined": newest first).
// Anything else is def, in its own direction.
func ParseSort[K ~string](s string, keys []K, def K) (key K, desc bool) {
	name, desc := strings.CutPrefix(s, "-")
	for _, k := range keys {
		if string(k) == name {
			return k, desc
		}
	}
	return def, false
}

// FormatSort is the address form of an order that ParseSort reads back.
func FormatSort[K ~string](key K, desc bool) string {
	if desc {
		return "-" + string(key)
	}
	return string(key)
}
