// Package e2e holds geostream's end-to-end tests: the real binaries of
// ingest-svc, processor-svc and the simulator, run as processes against a
// redis-server each test starts on a free loopback port, with faults injected
// by signals. It has no code of its own beyond the test harness.
//
// The fault suite (go test ./e2e/ -run TestFault -v) proves the guarantees
// of docs/architecture.md#guarantees under processor, ingest and Redis
// crashes, a Redis that
// hangs, a full backlog, graceful shutdowns, trimming under load and
// retried uploads; docs/reliability.md lists each test, what it proves and
// its figures. Each fault test logs one line
//
//	FIGURES test=... faults=... sent=... acked=... counted=... lost=... duplicated=...
//
// Environment: GEOSTREAM_FAULT_SEED (seed of the fault schedules, default 1),
// GEOSTREAM_FAULT_OUTAGE (how long Redis hangs, default 30s, 10s with CI
// set), GEOSTREAM_FIGURES_FILE (append the FIGURES lines to this file).
package e2e
