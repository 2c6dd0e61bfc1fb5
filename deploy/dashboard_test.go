package deploy

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/geostream/geostream/streamkit/redistest"
)

// startService runs a service binary against redisURL on a free port and
// returns its base URL.
func startService(t *testing.T, module, redisURL string) string {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins[module])
	cmd.Env = append(os.Environ(),
		"GEOSTREAM_REDIS_URL="+redisURL,
		"GEOSTREAM_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"GEOSTREAM_CONSUMER=dash",
		"GEOSTREAM_LOG_LEVEL=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitOK(t, base+"/readyz")
	return base
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	redistest.WaitFor(t, 20*time.Second, url+" to answer 200", func() bool {
		r, err := http.Get(url)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

var sampleName = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// scrapeNames returns the sample names a /metrics endpoint exposes now.
func scrapeNames(t *testing.T, url string, into map[string]bool) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := sampleName.FindString(line); m != "" {
			into[m] = true
		}
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	r, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
}

var metricRef = regexp.MustCompile(`\b(geostream_[a-z0-9_]+)`)

// Every metric the Grafana dashboard queries is one the services really
// export: checked against live scrapes of ingest-svc and processor-svc after
// they have served uploads (some series appear only once used).
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	m := miniredis.RunT(t)
	url := "redis://" + m.Addr()
	ingest := startService(t, "ingest-svc", url)
	proc := startService(t, "processor-svc", url)

	post(t, ingest+"/upload", `[{"latitude": 1, "longitude": 2, "device_id": "d1"}, {"latitude": 3, "longitude": 4}]`)
	post(t, ingest+"/upload", `{"latitude": 91, "longitude": 2}`) // rejected
	redistest.WaitFor(t, 20*time.Second, "the 2 points counted", func() bool {
		r, err := http.Get(ingest + "/retrieve")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var s struct {
			N int `json:"data_count"`
		}
		json.NewDecoder(r.Body).Decode(&s)
		return s.N == 2
	})
	exported := map[string]bool{}
	scrapeNames(t, ingest+"/metrics", exported)
	scrapeNames(t, proc+"/metrics", exported)

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, "observability/grafana/dashboards/geostream.json"), &dash); err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metricRef.FindAllString(tg.Expr, -1) {
				used++
				if !exported[name] {
					t.Errorf("panel %q queries %s, which no service exports", p.Title, name)
				}
			}
		}
	}
	if used < 10 {
		t.Errorf("the dashboard queries only %d metrics", used)
	}
	// The panels the issue asks for.
	titles := ""
	for _, p := range dash.Panels {
		titles += strings.ToLower(p.Title) + "\n"
	}
	for _, want := range []string{"ingest rate", "status", "latency", "lag", "pending", "applied", "duplicates", "claimed"} {
		if !strings.Contains(titles, want) {
			t.Errorf("no panel about %q", want)
		}
	}
}
