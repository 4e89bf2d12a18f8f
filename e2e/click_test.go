package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestClickRefusesWhatAPersonCannotClick: the browser tests' click refuses a button covered by
// another element, one clipped by a scroll box and a hidden one, and clicks one that is in plain
// view; so a test that passes clicked what a person could.
func TestClickRefusesWhatAPersonCannotClick(t *testing.T) {
	page := `<!doctype html><html><body>
<button id="plain" onclick="this.textContent='clicked'">plain</button>
<div style="position:relative"><button id="covered">covered</button>
  <div style="position:absolute;inset:0;background:white"></div></div>
<div style="overflow:hidden;height:20px;width:200px"><div style="height:200px"></div><button id="clipped">clipped</button></div>
<button id="hidden" style="display:none">hidden</button>
</body></html>`
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	}))
	defer hs.Close()
	ctx := browser(t)
	step(t, ctx, "open the page", chromedp.Navigate(hs.URL))
	try := func(sel string) error {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return chromedp.Do(c, click(sel))
	}
	if err := try("#plain"); err != nil {
		t.Fatalf("a button in plain view: %v", err)
	}
	if got := text(t, ctx, "#plain"); got != "clicked" {
		t.Fatalf("the plain button was not clicked: %q", got)
	}
	for sel, want := range map[string]string{"#covered": "covered at its centre by <div>", "#clipped": "covered at its centre", "#hidden": ""} {
		err := try(sel)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a refusal saying %q", sel, err, want)
		}
	}
}
