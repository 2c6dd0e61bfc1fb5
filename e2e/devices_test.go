package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/procs"
)

// Each app's exact request (the sources are cited in
// ingest-svc/internal/devproto's tests) through the real binaries: the
// answer the app needs, then the counts in /retrieve and the device in
// /devices once the processor has applied them.
func TestDeviceAppsEndToEnd(t *testing.T) {
	c := newCluster(t, "--appendfsync", "everysec")
	c.startProcessor("p1")
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	sec := func() string { return jsonNum(ts.Unix()) }
	iso := ts.Format(time.RFC3339)
	for _, tc := range []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		want                            string // the exact answer body
		device                          string
		count                           int64
	}{
		// owntracks/android HttpMessageProcessorEndpoint.kt: POST JSON, X-Limit-U/D.
		{"owntracks", "POST", "/owntracks", "application/json; charset=utf-8",
			`{"_type":"location","acc":13,"alt":34,"batt":87,"bs":1,"conn":"w","lat":52.52,"lon":13.405,"t":"u","tid":"ph",` +
				`"topic":"owntracks/http/ph","tst":` + sec() + `,"vel":18}`,
			map[string]string{"X-Limit-U": "alice", "X-Limit-D": "phone"}, "[]", "alice:phone", 1},
		{"owntracks lwt", "POST", "/owntracks", "application/json", `{"_type":"lwt","tst":` + sec() + `}`,
			map[string]string{"X-Limit-U": "alice", "X-Limit-D": "phone"}, "[]", "alice:phone", 1},
		// Traccar's OsmAndProtocolDecoder: the query of a GET.
		{"osmand", "GET", "/osmand?id=osmand-1&lat=48.8566&lon=2.3522&timestamp=" + sec() + "&speed=5&bearing=90&altitude=35&batt=60", "", "",
			nil, "", "osmand-1", 1},
		// traccar-client lib/preferences.dart: the 9.x JSON.
		{"traccar 9.x", "POST", "/traccar", "application/json",
			`{"location":{"timestamp":"` + iso + `","coords":{"latitude":41.9,"longitude":12.5,"accuracy":5,"speed":-1,"heading":-1,"altitude":20},` +
				`"is_moving":true,"odometer":0,"event":"","battery":{"level":0.5,"is_charging":false},"activity":{"type":"still"},"extras":{}},"device_id":"31415926"}`,
			nil, "", "31415926", 1},
		{"traccar 10.x form", "POST", "/traccar", "application/x-www-form-urlencoded",
			"id=31415926&timestamp=" + sec() + "&lat=41.91&lon=12.51&speed=0&bearing=0&altitude=20&accuracy=5&batt=50",
			nil, "", "31415926", 2},
		// Overland-iOS README.md: a batch, with a trip-end record that is not a fix.
		{"overland", "POST", "/overland", "application/json",
			`{"locations":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.030581,37.3318]},"properties":{"timestamp":"` + iso +
				`","altitude":0,"speed":4,"horizontal_accuracy":30,"motion":["driving"],"battery_state":"charging","battery_level":0.89,"device_id":"iphone","wifi":""}},` +
				`{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.03,37.33]},"properties":{"timestamp":"` + iso +
				`","speed":-1,"course":-1,"device_id":"iphone"}},` +
				`{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.03,37.33]},"properties":{"timestamp":"` + iso +
				`","type":"trip","mode":"car","device_id":"iphone"}}],"trip":{"mode":"car"}}`,
			nil, `{"result":"ok"}`, "iphone", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(t, tc.method, c.base+tc.path, tc.ctype, tc.body, tc.header)
			if code != 200 || body != tc.want {
				t.Fatalf("got %d %q, want 200 %q", code, body, tc.want)
			}
			c.waitDevice(tc.device, tc.count, 30*time.Second)
		})
	}
	// An invalid OsmAnd position: 400 naming the field, nothing stored.
	code, body := send(t, "GET", c.base+"/osmand?id=osmand-1&lat=91&lon=2", "", "", nil)
	if code != 400 || !strings.Contains(body, `"field":"lat"`) {
		t.Errorf("invalid osmand: %d %s", code, body)
	}
	c.waitCount(6, 30*time.Second) // owntracks 1, osmand 1, traccar 2, overland 2
	resp, err := http.Get(c.base + "/devices/iphone")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Count int64 `json:"count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.Count != 2 {
		t.Fatalf("/devices/iphone: %+v, %v", d, err)
	}
}

// simulator verify in each protocol against the real binaries: every point
// counted exactly.
func TestSimulatorVerifyProtocols(t *testing.T) {
	for _, p := range []struct {
		name, batch string
	}{{"owntracks", "1"}, {"osmand", "1"}, {"traccar", "1"}, {"overland", "50"}} {
		t.Run(p.name, func(t *testing.T) {
			c := newCluster(t, "--appendfsync", "everysec")
			c.startProcessor("p1")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			t0 := time.Now()
			out, err := exec.CommandContext(ctx, bin.Simulator, "verify", "--protocol", p.name,
				"--target", c.base, "--fresh", "--devices", "10", "--count", "2000", "--batch", p.batch,
				"--concurrency", "8", "--seed", "5", "--timeout", "1m", "--log-format", "text").CombinedOutput()
			t.Logf("simulator verify --protocol %s (%v):\n%s", p.name, time.Since(t0).Round(time.Millisecond), procs.Tail(out, 2000))
			if err != nil {
				t.Fatalf("simulator verify --protocol %s: %v", p.name, err)
			}
		})
	}
}

// waitDevice polls /retrieve?device_id= until the device has want points.
func (c *cluster) waitDevice(id string, want int64, timeout time.Duration) {
	c.t.Helper()
	c.waitCountOf("?device_id="+id, "device "+id, want, timeout)
}

func send(t *testing.T, method, url, ctype, body string, header map[string]string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func jsonNum(v int64) string { b, _ := json.Marshal(v); return string(b) }
