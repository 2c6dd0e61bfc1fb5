// Package deploy holds no code: its tests check the deployment files of the
// repository (docker-compose.yml, the Dockerfiles, the Kubernetes manifests
// under deploy/kubernetes and the observability config) with the real
// parsers — compose-go, the Kubernetes API types, kustomize — against the
// services' real flags and metrics, because no Docker engine or cluster runs
// where the tests do.
package deploy
