// Package e2e holds geostream's end-to-end tests: the real binaries of
// ingest-svc, processor-svc and the simulator, run as processes against a
// redis-server each test starts on a free loopback port, with faults injected
// by signals. It has no code of its own beyond the test harness.
package e2e
