package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/geostream/geostream/streamkit/redistest"
)

// chromiumPath finds Debian's chromium. Without it the browser tests skip,
// unless CI or GEOSTREAM_REQUIRE_REDIS is set (the rule of redis-server):
// then they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if redistest.Required() {
		t.Fatal("chromium not found and CI/GEOSTREAM_REQUIRE_REDIS is set (on Debian: apt-get install chromium)")
	}
	t.Skip("chromium not installed (set GEOSTREAM_REQUIRE_REDIS=1 to make this a failure)")
	return ""
}

// browser is one headless Chromium tab, with what the page reported:
// console errors and warnings, uncaught exceptions, browser log errors
// (CSP violations, failed loads), and every request and response.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu        sync.Mutex
	problems  []string          // console errors/warnings, exceptions, log errors
	responses map[string][]int  // URL → statuses, in order
	failed    []string          // requests that got no answer
	requested []string          // URLs, in order
	ids       map[string]string // request id → URL
}

// newBrowser starts Chromium for the test (killed at its end) with a fresh
// profile and a 1400×860 window.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	b := &browser{t: t, responses: map[string][]int{}, ids: map[string]string{}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")), chromedp.WindowSize(1400, 860))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b.ctx = ctx
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{})
			return err
		}),
		chromedp.EmulateViewport(1400, 860))
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == "error" || ev.Type == "warning" || ev.Type == "assert" {
			var args []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("log %s %s: %s %s", e.Level, e.Source, e.Text, e.URL))
		}
	case *network.EventRequestWillBeSent:
		b.ids[string(ev.RequestID)] = ev.Request.URL
		b.requested = append(b.requested, ev.Request.URL)
	case *network.EventResponseReceived:
		b.responses[ev.Response.URL] = append(b.responses[ev.Response.URL], int(ev.Response.Status))
	case *network.EventLoadingFailed:
		b.failed = append(b.failed, fmt.Sprintf("%s: %s", b.ids[string(ev.RequestID)], ev.ErrorText))
	}
}

// report returns what the page reported so far: problems, requests that
// failed or answered 4xx/5xx ("URL status"), and all requested URLs.
func (b *browser) report() (problems, bad, requested []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bad = append(bad, b.failed...)
	for u, codes := range b.responses {
		for _, c := range codes {
			if c >= 400 {
				bad = append(bad, fmt.Sprintf("%s %d", u, c))
			}
		}
	}
	return append([]string(nil), b.problems...), bad, append([]string(nil), b.requested...)
}

// statuses returns the statuses answered for URLs starting with prefix.
func (b *browser) statuses(prefix string) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for u, codes := range b.responses {
		if strings.HasPrefix(u, prefix) {
			out = append(out, codes...)
		}
	}
	return out
}

// statusesOf returns the statuses of the responses to exactly url.
func (b *browser) statusesOf(url string) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.responses[url]...)
}

// do runs actions, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is truthy, or fails the
// test at timeout, printing what the page reported.
func (b *browser) waitJS(expr string, timeout time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		problems, bad, _ := b.report()
		b.t.Fatalf("waiting for %s: %v\npage problems: %v\nfailed requests: %v", expr, err, problems, bad)
	}
}

// text is the text of the element with id.
func (b *browser) text(id string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

// screenshot saves the viewport as name: in docs/img for the README's
// ui.png with GEOSTREAM_UPDATE_SCREENSHOT=1, else in
// GEOSTREAM_ARTIFACTS_DIR or the test's temporary directory. It returns
// the path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("GEOSTREAM_ARTIFACTS_DIR")
	if name == "ui.png" && os.Getenv("GEOSTREAM_UPDATE_SCREENSHOT") == "1" {
		dir = filepath.Join("..", "docs", "img")
	} else if dir == "" {
		dir = b.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	b.t.Logf("screenshot: %s", abs)
	return abs
}
