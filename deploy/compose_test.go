package deploy

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	return loadComposeFiles(t, []string{"../docker-compose.yml"}, profiles...)
}

// loadComposeFiles loads docker-compose.yml with override files, as
// `docker compose -f A -f B` merges them.
func loadComposeFiles(t *testing.T, files []string, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(".."), cli.WithProfiles(profiles), cli.WithName("geostream"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%v does not load: %v", files, err)
	}
	return p
}

// serviceModule maps compose services built from this repository to their
// Go module (and the subcommand whose flags they use).
var serviceModule = map[string][]string{
	"ingest":    {"ingest-svc"},
	"processor": {"processor-svc"},
	"simulator": {"simulator", "run"},
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"redis", "ingest", "processor", "simulator"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	if names := p.ServiceNames(); slices.Contains(names, "prometheus") || slices.Contains(names, "grafana") {
		t.Errorf("prometheus/grafana must only start with the observability profile: %v", names)
	}
	obs := loadCompose(t, "observability")
	for _, name := range []string{"prometheus", "grafana"} {
		if _, err := obs.GetService(name); err != nil {
			t.Errorf("observability profile: %v", err)
		}
	}
}

func TestComposeRedis(t *testing.T) {
	p := loadCompose(t)
	r, _ := p.GetService("redis")
	if !strings.HasPrefix(r.Image, "redis:7") {
		t.Errorf("redis image %q, want Redis 7", r.Image)
	}
	cmd := strings.Join(r.Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q", cmd, want)
		}
	}
	if r.HealthCheck == nil || len(r.HealthCheck.Test) == 0 {
		t.Error("redis has no health check")
	}
	named := false
	for _, v := range r.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == "/data" {
			if _, ok := p.Volumes[v.Source]; ok {
				named = true
			}
		}
	}
	if !named {
		t.Error("redis data is not on a named volume at /data")
	}
}

func TestComposeGeostreamServices(t *testing.T) {
	p := loadCompose(t)
	for name, mod := range serviceModule {
		t.Run(name, func(t *testing.T) {
			s, err := p.GetService(name)
			if err != nil {
				t.Fatal(err)
			}
			// Built from this repository with an existing Dockerfile.
			if s.Build == nil {
				t.Fatal("no build section")
			}
			df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Fatalf("Dockerfile: %v", err)
			}
			if want := mod[0] + "/Dockerfile"; !strings.HasSuffix(df, want) {
				t.Errorf("dockerfile %s, want %s", df, want)
			}
			// Every variable it sets is one the binary reads.
			known := envNames(t, mod[0], mod[1:]...)
			for k := range s.Environment {
				if !known[k] {
					t.Errorf("environment %s is not a setting of %s", k, mod[0])
				}
			}
			if !s.ReadOnly || s.User == "" || s.User == "0" || strings.HasPrefix(s.User, "root") {
				t.Errorf("read_only=%v user=%q: want a read-only root filesystem and a non-root user", s.ReadOnly, s.User)
			}
			if name == "simulator" {
				if s.DependsOn["ingest"].Condition != types.ServiceConditionHealthy {
					t.Errorf("simulator must wait for a healthy ingest: %+v", s.DependsOn)
				}
				if len(s.Command) == 0 || s.Command[0] != "run" {
					t.Errorf("simulator command %v, want continuous load (run)", s.Command)
				}
				return
			}
			if s.DependsOn["redis"].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s must start only when redis is healthy: %+v", name, s.DependsOn)
			}
			if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "/healthcheck") {
				t.Errorf("health check %+v, want the /healthcheck probe", s.HealthCheck)
			}
			if s.Environment["GEOSTREAM_REDIS_URL"] == nil || !strings.HasPrefix(*s.Environment["GEOSTREAM_REDIS_URL"], "redis://redis:") {
				t.Errorf("GEOSTREAM_REDIS_URL must point at the redis service")
			}
		})
	}
	proc, _ := p.GetService("processor")
	if proc.GetScale() != 2 {
		t.Errorf("processor replicas = %d, want 2", proc.GetScale())
	}
	ing, _ := p.GetService("ingest")
	if len(ing.Ports) == 0 || ing.Ports[0].Published != "8080" {
		t.Errorf("ingest must publish port 8080: %+v", ing.Ports)
	}
}

var buildStatic = regexp.MustCompile(`(?m)^RUN scripts/build-static (\S+) /out`)

// The image build runs the same command as CI (.ci/run), so a broken image
// build is a broken CI build.
func TestDockerfilesBuildLikeCI(t *testing.T) {
	ci := string(readFile(t, "../.ci/run"))
	if !strings.Contains(ci, "scripts/build-static") {
		t.Fatal(".ci/run does not run scripts/build-static")
	}
	for mod := range services {
		df := string(readFile(t, filepath.Join("..", mod, "Dockerfile")))
		m := buildStatic.FindStringSubmatch(df)
		if m == nil || m[1] != mod {
			t.Errorf("%s/Dockerfile does not build with scripts/build-static %s", mod, mod)
		}
		for _, want := range []string{"FROM scratch", "USER 65532:65532", "AS build"} {
			if !strings.Contains(df, want) {
				t.Errorf("%s/Dockerfile lacks %q (multi-stage, static, non-root)", mod, want)
			}
		}
	}
}

// docker-compose.replicas.yml: a replica of redis, three Sentinels
// watching it under the master name the services' redis+sentinel:// URL
// names, ingest with --min-replicas-acked 1; each service waits for what
// it needs.
func TestComposeReplicas(t *testing.T) {
	base := loadCompose(t)
	for _, name := range []string{"redis-replica", "sentinel-1"} {
		if slices.Contains(base.ServiceNames(), name) {
			t.Errorf("%s must only start with docker-compose.replicas.yml", name)
		}
	}
	p := loadComposeFiles(t, []string{"../docker-compose.yml", "../docker-compose.replicas.yml"})
	replica, err := p.GetService("redis-replica")
	if err != nil {
		t.Fatal(err)
	}
	cmd := strings.Join(replica.Command, " ")
	for _, want := range []string{"--replicaof redis 6379", "--appendonly yes", "--maxmemory-policy noeviction"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis-replica command %q lacks %q", cmd, want)
		}
	}
	if v := replica.Volumes; len(v) != 1 || v[0].Target != "/data" || p.Volumes[v[0].Source].Name == "" {
		t.Errorf("redis-replica volumes %+v, want a named volume at /data", v)
	}
	primary, _ := p.GetService("redis")
	if cmd := strings.Join(primary.Command, " "); !strings.Contains(cmd, "--appendonly yes --appendfsync everysec --maxmemory-policy noeviction") {
		t.Errorf("redis command %q lost the base file's persistence settings", cmd)
	}

	var sentinels []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("sentinel-%d", i)
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		cmd := strings.Join(s.Command, " ")
		for _, want := range []string{"sentinel monitor geostream redis 6379 2", "sentinel resolve-hostnames yes", "--sentinel", "port 26379"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("%s command lacks %q: %s", name, want, cmd)
			}
		}
		if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "get-master-addr-by-name geostream") {
			t.Errorf("%s health check %+v, want one asking for the master", name, s.HealthCheck)
		}
		if s.DependsOn["redis-replica"].Condition != types.ServiceConditionHealthy {
			t.Errorf("%s must wait for a replica in sync: %+v", name, s.DependsOn)
		}
		sentinels = append(sentinels, name+":26379")
	}

	for name, mod := range map[string]string{"ingest": "ingest-svc", "processor": "processor-svc"} {
		s, _ := p.GetService(name)
		known := envNames(t, mod)
		for k := range s.Environment {
			if !known[k] {
				t.Errorf("%s: environment %s is not a setting of %s", name, k, mod)
			}
		}
		raw := s.Environment["GEOSTREAM_REDIS_URL"]
		if raw == nil {
			t.Fatalf("%s: no GEOSTREAM_REDIS_URL", name)
		}
		u, err := url.Parse(*raw)
		if err != nil || u.Scheme != "redis+sentinel" || u.Host != strings.Join(sentinels, ",") || u.Path != "/geostream/0" {
			t.Errorf("%s: GEOSTREAM_REDIS_URL %q, want redis+sentinel://%s/geostream/0 (%v)", name, *raw, strings.Join(sentinels, ","), err)
		}
		for _, sn := range sentinels {
			dep := strings.TrimSuffix(sn, ":26379")
			if s.DependsOn[dep].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s must wait for a healthy %s: %+v", name, dep, s.DependsOn)
			}
		}
	}
	ing, _ := p.GetService("ingest")
	if v := ing.Environment["GEOSTREAM_MIN_REPLICAS_ACKED"]; v == nil || *v != "1" {
		t.Errorf("ingest GEOSTREAM_MIN_REPLICAS_ACKED = %v, want 1", v)
	}
	if v := base.Services["ingest"].Environment["GEOSTREAM_MIN_REPLICAS_ACKED"]; v != nil && *v != "0" {
		t.Errorf("docker-compose.yml alone has one Redis: GEOSTREAM_MIN_REPLICAS_ACKED must stay 0, got %s", *v)
	}
}
