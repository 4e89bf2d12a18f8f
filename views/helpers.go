package views

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }

// warningClass colours a warning by its level: red at the limit, amber from 80 %, plain else.
func warningClass(level string) string {
	switch level {
	case "limit":
		return "border-red-300 bg-red-50 text-red-900"
	case "warn":
		return "border-amber-300 bg-amber-50 text-amber-900"
	}
	return "border-slate-200 bg-slate-50 text-slate-700"
}

// plural says n with the singular or plural noun: "1 allowed address", "3 allowed addresses".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
