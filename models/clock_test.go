package models_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// clockReads are the ways code can read a clock of its own: Go's and the database's.
var clockReads = regexp.MustCompile(`(?i)\btime\.(Now|Since|Until)\(|\b(now|clock_timestamp|statement_timestamp|transaction_timestamp)\(\)|\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b`)

// clockAllowed lists the reads that stay, each with its reason. An entry is a file and a piece of
// the line; a stale entry fails the test too, so the list only shrinks.
var clockAllowed = []struct{ file, line, why string }{
	{"sessionstore.go", "return s.now()",
		"the session store's clock is the one it is given, the server's (SetClock); the real time only until then"},
	{"sessionstore.go", "time.Until(s.clock())",
		"the session manager computes expiries on the real time; the store moves each onto its clock by the offset between the two"},
	{"meter.go", "time.Since(w.flushed)", "how often a process writes its unlimited count is the process's own pace, not the calls' time"},
	{"meter.go", "time.Since(w.empty)", "how often a process re-asks a used-up hour is the process's own pace, not the calls' time"},
	{"meter.go", "time.Since(km.empty)", "how often a process re-asks a key's used-up slice is the process's own pace, not the calls' time"},
	{"meter.go", "time.Since(w.keysFlushed)", "how often a process writes its keys' counts is the process's own pace, not the calls' time"},
	{"meter.go", "time.Now()", "stamps of the process's own pace (last write, last empty answer), compared only with time.Since"},
	{"keycache.go", "time.Since(e.at)", "a cache entry's age in the process, not a time the key is judged at"},
	{"keycache.go", "at: time.Now()", "when the process cached the entry, compared only with time.Since"},
	{"keycache.go", "at := time.Now()", "when the process fetched the entries, compared only with time.Since"},
	{"replica.go", "clock_timestamp() AS now", "a replica's lag is its own clock against the commit times it replayed: the servers' clocks, not a time the model judges anything at"},
}

// TestOneClock: model logic takes the time from its caller (the server's clock), never from
// time.Now() or the database's now(), so a caller's fixed or moved clock always meets the same
// clock in the query. Column defaults (DEFAULT now()) in migrations are the one exception.
func TestOneClock(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.go", "mail/*.go", "seed/*.go", "../migrations/*.sql"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("scanned only %d files: the globs are wrong", len(files))
	}
	used := make([]bool, len(clockAllowed))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
	lines:
		for i, line := range strings.Split(string(b), "\n") {
			code := line
			if strings.HasSuffix(f, ".go") {
				code, _, _ = strings.Cut(line, "//")
				// A column's default (bun's tag) is when the row was written, not a comparison.
				code = strings.ReplaceAll(code, "default:current_timestamp", "")
			} else {
				code, _, _ = strings.Cut(line, "--")
				// A column's default is when the row was written, not a comparison.
				code = regexp.MustCompile(`(?i)\bDEFAULT\s+now\(\)`).ReplaceAllString(code, "")
			}
			if !clockReads.MatchString(code) {
				continue
			}
			for k, a := range clockAllowed {
				if filepath.Base(f) == a.file && strings.Contains(code, a.line) {
					used[k] = true
					continue lines
				}
			}
			t.Errorf("%s:%d reads a clock of its own: %s\n\ttake `now` from the caller instead, or add it to clockAllowed with the reason", f, i+1, strings.TrimSpace(line))
		}
	}
	for k, a := range clockAllowed {
		if !used[k] {
			t.Errorf("clockAllowed entry %s %q matches nothing any more: remove it", a.file, a.line)
		}
	}
}
