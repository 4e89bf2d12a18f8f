package testdb

import "atrium/models/wirecount"

// Round trips are what a fast path is judged by, so tests count them on the wire rather than
// estimate them: open a pool with models.OpenOptions{Dial: w.Dial} and read the counters before
// and after the calls measured.

// WireCount counts, at the protocol level, what the database connections dialled through it do:
// a round trip is a client write that follows something read from the server; a statement is a
// CommandComplete (BEGIN and COMMIT included). It is the counter the benchmark reports with.
type WireCount = wirecount.Counter
