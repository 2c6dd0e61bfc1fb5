package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes one manifest into its Kubernetes API type; an unknown
// field (a typo, a field of another API version) is an error.
func decodeStrict(doc []byte) (any, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, err
	}
	var obj any
	switch meta.APIVersion + "/" + meta.Kind {
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/Secret":
		obj = &corev1.Secret{}
	case "v1/Namespace":
		obj = &corev1.Namespace{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1/PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "kustomize.config.k8s.io/v1beta1/Kustomization":
		obj = &kustypes.Kustomization{}
	default:
		return nil, fmt.Errorf("unexpected kind %s %s", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	n := 0
	err := filepath.Walk("kubernetes", func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		n++
		if _, err := decodeStrict(readFile(t, path)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("walked %d manifests: %v", n, err)
	}
}

// build runs kustomize on a directory and decodes every object strictly.
func build(t *testing.T, dir string) []any {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []any
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func TestKustomizeBuilds(t *testing.T) {
	for _, dir := range []string{"kubernetes/base", "kubernetes/overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			objs := build(t, dir)
			checkWorkloads(t, objs)
		})
	}
}

// checkWorkloads checks the built objects against the services' real
// settings: probes on the health endpoints of the port the container
// listens on, only known GEOSTREAM_* variables, resources, non-root, and
// processors not beyond the partition count.
func checkWorkloads(t *testing.T, objs []any) {
	config := map[string]string{}
	secrets := map[string]string{}
	var pods []struct {
		name     string
		module   string
		replicas int32
		spec     corev1.PodSpec
	}
	hpa := false
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			for k, v := range o.Data {
				config[k] = v
			}
		case *corev1.Secret:
			for k, v := range o.StringData {
				secrets[k] = v
			}
		case *appsv1.Deployment:
			pods = append(pods, struct {
				name     string
				module   string
				replicas int32
				spec     corev1.PodSpec
			}{o.Name, "ingest-svc", *o.Spec.Replicas, o.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			pods = append(pods, struct {
				name     string
				module   string
				replicas int32
				spec     corev1.PodSpec
			}{o.Name, "processor-svc", *o.Spec.Replicas, o.Spec.Template.Spec})
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpa = o.Spec.ScaleTargetRef.Name == "ingest"
		}
	}
	if !hpa {
		t.Error("no HPA for ingest")
	}
	if !strings.HasPrefix(secrets["GEOSTREAM_REDIS_URL"], "redis") {
		t.Error("the Redis URL must come from a Secret")
	}
	partitions, err := strconv.Atoi(config["GEOSTREAM_PARTITIONS"])
	if err != nil {
		t.Fatalf("GEOSTREAM_PARTITIONS in the ConfigMap: %v", err)
	}
	if len(pods) != 2 {
		t.Fatalf("want the ingest Deployment and processor StatefulSet, got %d workloads", len(pods))
	}
	for _, p := range pods {
		known := envNames(t, p.module)
		for k := range config {
			if !known[k] {
				t.Errorf("ConfigMap key %s is not a setting of %s", k, p.module)
			}
		}
		for k := range secrets {
			if !known[k] {
				t.Errorf("Secret key %s is not a setting of %s", k, p.module)
			}
		}
		if p.module == "processor-svc" && int(p.replicas) > partitions {
			t.Errorf("%d processors for %d partitions: the extra ones would idle", p.replicas, partitions)
		}
		if sc := p.spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod must run as non-root", p.name)
		}
		for _, c := range p.spec.Containers {
			port := int32(0)
			for _, cp := range c.Ports {
				port = cp.ContainerPort
			}
			addr := ""
			for _, e := range c.Env {
				if !known[e.Name] {
					t.Errorf("%s: env %s is not a setting of %s", p.name, e.Name, p.module)
				}
				if e.Name == "GEOSTREAM_HTTP_ADDR" {
					addr = e.Value
				}
			}
			if !strings.HasSuffix(addr, ":"+strconv.Itoa(int(port))) {
				t.Errorf("%s: listens on %q but the container port is %d", p.name, addr, port)
			}
			for probe, want := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want {
					t.Errorf("%s: want a probe on %s", p.name, want)
				}
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: resource requests and limits must be set", p.name)
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: root filesystem must be read-only", p.name)
			}
		}
	}
}
