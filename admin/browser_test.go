package admin

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts a headless Chromium for one test, or skips the test when
// none is installed (`apt-get install chromium`; .ci/browser.sh does it).
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no Chromium installed (apt-get install chromium): the admin page's browser test is skipped")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("Chromium at %s does not start (%v): the admin page's browser test is skipped", path, err)
	}
	return ctx
}

func textOf(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// TestPageInBrowser drives the page as an admin would: the first VXU of
// the sample is shown with its fields named, live vs draft differences
// highlighted; clicking an element shows its source field, highlighted in
// the message, and its rule; the diff on the sample lists the changed
// element and leads to an example.
func TestPageInBrowser(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, "", true)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/"),
		chromedp.WaitVisible(css(`body[data-ready="1"]`)),
		chromedp.WaitVisible(css(`#segments tr[data-seg="PID"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if s := textOf(ctx, t, "#segments"); !strings.Contains(s, "Patient Name") || !strings.Contains(s, "Administered Code") {
		t.Errorf("message view lacks field names:\n%s", s)
	}
	if s := textOf(ctx, t, "#draftName"); s != "draft.yaml" {
		t.Errorf("draft name %q", s)
	}
	// The draft view is on, with the changed CVX displays highlighted.
	if n := eval[int](ctx, t, `document.querySelectorAll("#resources .leaf.chg").length`); n == 0 {
		t.Fatal("no highlighted change in the draft view")
	}
	if s := textOf(ctx, t, `#resources .leaf.chg`); s != `"Changed"` {
		t.Errorf("highlighted value %q", s)
	}
	// Click the family name: its source field, name and rule.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#resources span.leaf[data-path="Patient.name[0].family"]`)),
		chromedp.WaitVisible(css(`#ruleText`)),
	); err != nil {
		t.Fatal(err)
	}
	if s := textOf(ctx, t, "#detailSource"); !strings.HasPrefix(s, "PID-5") || !strings.Contains(s, "(Patient Name)") {
		t.Errorf("source %q", s)
	}
	if s := textOf(ctx, t, "#detailRule"); !strings.HasPrefix(s, "draft.yaml:") {
		t.Errorf("rule %q", s)
	}
	if s := textOf(ctx, t, "#ruleText"); !strings.Contains(s, "family") {
		t.Errorf("rule text does not show the family rule:\n%s", s)
	}
	if n := eval[int](ctx, t, `document.querySelectorAll('#segments tr.hit[data-seg="PID"][data-n="5"]').length`); n != 1 {
		t.Errorf("PID-5 highlighted %d times", n)
	}
	// The live view: the values the draft changes are marked there too.
	if err := chromedp.Do(ctx, chromedp.Click(css(`#viewLive`))); err != nil {
		t.Fatal(err)
	}
	if !eval[bool](ctx, t, `document.getElementById("viewLive").classList.contains("on")`) ||
		eval[int](ctx, t, `document.querySelectorAll("#resources .leaf.chg").length`) == 0 {
		t.Error("live view: not on, or no change marked")
	}
	if s := textOf(ctx, t, `#resources .leaf.chg`); s == `"Changed"` {
		t.Error("the live view shows the draft's value")
	}
	// Mapping diff on the sample, then an example.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#runDiff`)),
		chromedp.WaitVisible(css(`#diffElements`)),
	); err != nil {
		t.Fatal(err)
	}
	if s := textOf(ctx, t, "#diffElements"); !strings.Contains(s, "Immunization.vaccineCode.coding.display") || !strings.Contains(s, "→ Changed") {
		t.Errorf("diff table:\n%s", s)
	}
	if s := textOf(ctx, t, "#diffSummary"); !strings.HasPrefix(s, "compared ") {
		t.Errorf("diff summary %q", s)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#diffElements a`)),
		chromedp.WaitVisible(css(`#viewDraft.on`)),
	); err != nil {
		t.Fatal(err)
	}
	if v := eval[string](ctx, t, `document.getElementById("sample").value`); v == "" {
		t.Error("the example link selected no sample")
	}
}

// TestPageDraftAndToken: with a token the page asks for it (or takes it
// from #token=), and a draft with a problem shows it with a caret.
func TestPageDraftAndToken(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, "tok-123", false)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/"),
		chromedp.WaitVisible(css(`#login`)),
		chromedp.SendKeys(css(`#token`), "tok-123"),
		chromedp.Click(css(`#login button`)),
		chromedp.WaitVisible(css(`body[data-ready="1"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if !eval[bool](ctx, t, `document.getElementById("login").hidden`) {
		t.Error("the token form stays after a good token")
	}
	// A fresh tab with the token in the fragment, which the page removes.
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(ctx2,
		chromedp.Navigate(f.srv.URL+"/#token=tok-123"),
		chromedp.WaitVisible(css(`body[data-ready="1"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if url, err := chromedp.Run(ctx2, chromedp.Location()); err != nil || strings.Contains(url, "tok-123") {
		t.Errorf("fragment token: %v, url %q", err, url)
	}
	// No draft yet: the Draft view is off. Load the live mapping, replace
	// it with a broken draft, check it.
	if !eval[bool](ctx2, t, `document.getElementById("viewDraft").disabled`) {
		t.Error("Draft view enabled without a draft")
	}
	broken := "resources:\n  - resource: Patient\n    rules:\n      - {target: brithDate, value: date(PID-7)}\n"
	if err := chromedp.Do(ctx2,
		chromedp.Click(css(`#loadLive`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("draftText").value.length > 1000`),
		chromedp.SetValue(css(`#draftText`), broken),
		chromedp.Click(css(`#checkDraft`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("problems").textContent.length > 0`),
	); err != nil {
		t.Fatal(err)
	}
	if s := textOf(ctx2, t, "#problems"); !strings.Contains(s, "draft.yaml:4:") || !strings.Contains(s, "brithDate") || !strings.Contains(s, "^") {
		t.Errorf("problems:\n%s", s)
	}
	// Fixed, it becomes the draft.
	if err := chromedp.Do(ctx2,
		chromedp.SetValue(css(`#draftText`), strings.Replace(broken, "brithDate", "birthDate", 1)),
		chromedp.Click(css(`#checkDraft`)),
		chromedp.WaitEnabled(css(`#viewDraft`)),
	); err != nil {
		t.Fatal(err)
	}
	if s := textOf(ctx2, t, "#draftName"); s != "draft.yaml" {
		t.Errorf("draft name %q", s)
	}
}
