package components

import (
	"net/url"
	"strconv"
)

// Pager numbers the pages of a list, the same way on every page of the console: "x–y of N",
// Previous, page numbers, Next. Each link keeps the list's filters (Query) in the query string.
type Pager struct {
	// Page and Pages count from 1; Total is how many items match, PerPage how many a page shows.
	Page, Pages, Total, PerPage int
	// Base is the list's path; Query its filters and sort ("page" is set per link).
	Base  string
	Query url.Values
	// Label names the navigation for screen readers ("Member pages"); Noun the items ("members").
	Label, Noun string
	// Target, when set, makes htmx swap that element (the list) instead of loading the page.
	Target string
	// TestID prefixes the data-testid of the navigation ("members" gives "members-pagination").
	TestID string

	// Keyset marks a list paged by position (a deep page costs what the first does): it has no
	// page numbers or total. Next is the next page's address ("" on the last), First the first
	// page's ("" on the first), Shown how many items this page shows; NextLabel and FirstLabel
	// name the links ("Next" and "First page" unless set, e.g. "Older" and "Newest").
	Keyset                bool
	Next, First           string
	Shown                 int
	NextLabel, FirstLabel string
}

// NextText is the keyset list's next link's text.
func (p Pager) NextText() string {
	if p.NextLabel != "" {
		return p.NextLabel
	}
	return "Next"
}

// FirstText is the keyset list's first-page link's text.
func (p Pager) FirstText() string {
	if p.FirstLabel != "" {
		return p.FirstLabel
	}
	return "First page"
}

// URL is the list's address at page n, with its filters.
func (p Pager) URL(n int) string {
	v := url.Values{}
	for k, vs := range p.Query {
		if k != "page" {
			for _, x := range vs {
				if x != "" {
					v.Add(k, x)
				}
			}
		}
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return p.Base
	}
	return p.Base + "?" + v.Encode()
}

// From and To are the first and last item shown, counting from 1.
func (p Pager) From() int {
	if p.Total == 0 {
		return 0
	}
	return (p.Page-1)*p.PerPage + 1
}

// To is the last item shown.
func (p Pager) To() int { return min(p.Page*p.PerPage, p.Total) }

// Numbers are the page numbers to link: the first, the last and two either side of the current
// one; 0 marks a gap.
func (p Pager) Numbers() []int {
	var out []int
	for n := 1; n <= p.Pages; n++ {
		if n == 1 || n == p.Pages || n >= p.Page-2 && n <= p.Page+2 {
			out = append(out, n)
		} else if len(out) > 0 && out[len(out)-1] != 0 {
			out = append(out, 0)
		}
	}
	return out
}
