package deploy

import (
	"context"
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
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."), cli.WithProfiles(profiles), cli.WithName("geostream"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
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
