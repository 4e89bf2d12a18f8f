package static

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// palette reads src/palette.json, the colours tailwind.config.js builds every colour class from:
// each name with its light and its dark value.
func palette(t *testing.T) map[string][2]string {
	t.Helper()
	b, err := os.ReadFile("src/palette.json")
	if err != nil {
		t.Fatal(err)
	}
	var p map[string][2]string
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// luminance is WCAG 2's relative luminance of a #rrggbb colour.
func luminance(hex string) (float64, error) {
	if len(hex) != 7 || hex[0] != '#' {
		return 0, fmt.Errorf("colour %q is not #rrggbb", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return 0, err
		}
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l, nil
}

// contrast is WCAG 2's contrast ratio of two colours.
func contrast(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05), nil
}

func TestContrastFormula(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{{"#000000", "#ffffff", 21}, {"#ffffff", "#ffffff", 1}, {"#64748b", "#ffffff", 4.76}, {"#ffffff", "#4f46e5", 6.29}} {
		got, err := contrast(c.a, c.b)
		if err != nil || math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.2f, %v; want %.2f", c.a, c.b, got, err, c.want)
		}
	}
}

// colourClass finds the colour classes of a class list, and the background it takes under the pointer
// (hover:bg-…); other state variants (focus:…) carry no colour pair of their own here.
var colourClass = regexp.MustCompile(`(?:^|\s)(text|bg|fill|stroke|hover:bg)-(white|(?:[a-z]+)-(?:50|[1-9]00|950))(?:\s|$)`)

// classLists finds the class lists of the views, scripts and stylesheet: every quoted string (or
// @apply) holding a colour class.
func classLists(t *testing.T) map[string]string {
	t.Helper()
	lists := map[string]string{} // class list → a file it is in
	quoted := regexp.MustCompile("\"[^\"\\n]*\"|`[^`]*`")
	applied := regexp.MustCompile(`@apply [^;]*;`)
	var files []string
	for _, g := range []string{"../views/*.templ", "../views/*/*.templ", "../views/*.go", "../views/*/*.go", "../handlers/*.go", "js/app.js", "src/app.css"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_templ.go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		strs := quoted.FindAllString(string(b), -1)
		if strings.HasSuffix(f, ".css") {
			strs = applied.FindAllString(string(b), -1)
		}
		for _, q := range strs {
			if colourClass.MatchString(q) {
				lists[strings.TrimSuffix(strings.TrimPrefix(strings.Trim(q, "\"`"), "@apply "), ";")] = f
			}
		}
	}
	if len(lists) < 20 {
		t.Fatalf("found only %d class lists with colours; is the scan looking in the right place?", len(lists))
	}
	return lists
}

// TestPaletteContrast checks, in the light and in the dark theme, every text colour the views use
// against the background it is set on: the element's own background class when it has one, else
// the surfaces text sits on (cards: white; the page and table heads: slate-50), and against its
// hover background. Body text needs
// 4.5:1, large text (text-xl and up) 3:1 (WCAG 2 AA). Then the non-text colours a person must see
// (focus ring, primary button, chart bars and line) need 3:1 against the surfaces.
func TestPaletteContrast(t *testing.T) {
	pal := palette(t)
	surfaces := []string{"white", "slate-50"}
	checked := 0
	check := func(theme int, fg, bg string, min float64, where string) {
		t.Helper()
		f, ok1 := pal[fg]
		b, ok2 := pal[bg]
		if !ok1 || !ok2 {
			t.Errorf("%s: %s or %s is not in the palette (static/src/palette.json), so it has no dark value", where, fg, bg)
			return
		}
		r, err := contrast(f[theme], b[theme])
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		checked++
		if r < min {
			t.Errorf("%s theme: %s (%s) on %s (%s) has contrast %.2f:1, below %.1f:1 (%s)",
				[]string{"light", "dark"}[theme], fg, f[theme], bg, b[theme], r, min, where)
		}
	}
	for list, file := range classLists(t) {
		var texts, bgs, hovers []string
		for _, m := range colourClass.FindAllStringSubmatch(" "+strings.Join(strings.Fields(list), "  ")+" ", -1) {
			switch m[1] {
			case "text":
				texts = append(texts, m[2])
			case "bg":
				bgs = append(bgs, m[2])
			case "hover:bg":
				hovers = append(hovers, m[2])
			case "fill":
				if strings.Contains(list, "fill-slate") { // chart labels are text in SVG
					texts = append(texts, m[2])
				}
			}
		}
		min := 4.5
		if regexp.MustCompile(`(?:^|\s)text-(?:xl|[2-9]xl)(?:\s|$)`).MatchString(list) {
			min = 3
		}
		on := bgs
		if len(on) == 0 {
			on = surfaces
		}
		for _, fg := range texts {
			for _, bg := range on {
				for theme := range 2 {
					check(theme, fg, bg, min, fmt.Sprintf("%q in %s", list, file))
				}
			}
		}
		// Under the pointer the text stays on the hover background (the page's text when it sets none).
		hoverTexts := texts
		if len(hoverTexts) == 0 {
			hoverTexts = []string{"slate-900"}
		}
		for _, fg := range hoverTexts {
			for _, bg := range hovers {
				for theme := range 2 {
					check(theme, fg, bg, min, fmt.Sprintf("hovered %q in %s", list, file))
				}
			}
		}
	}
	for _, fg := range []string{"indigo-500", "indigo-600"} { // focus ring, buttons, chart bars and line
		for _, bg := range surfaces {
			for theme := range 2 {
				check(theme, fg, bg, 3, "a control or chart mark against the page")
			}
		}
	}
	t.Logf("%d colour pairs checked", checked)
}
