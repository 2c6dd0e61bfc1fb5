// Package cluster holds geostream's scale-out tests: the real binaries of
// ingest-svc, several processor-svc instances and the simulator, run as
// processes against a 3-master Redis Cluster that each test starts on
// loopback ports (streamkit/redisconn/clustertest), with processors killed
// and slots moved between masters under load.
//
// The throughput and memory measurements of docs/scaling.md live here too;
// they are built only with the geostream_bench tag:
//
//	go test -tags geostream_bench -count=1 -run 'TestThroughput|TestMemory' -v -timeout 30m ./e2e/cluster/
package cluster
