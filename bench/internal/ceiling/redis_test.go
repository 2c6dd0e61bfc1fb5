package ceiling

import "testing"

func TestParseBenchmarkCSV(t *testing.T) {
	out := "XADD: rps=0.0 (overall: nan) avg_msec=nan (overall: nan)\r" +
		"\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"\"XADD bench:xadd * d dev-0042\",\"242130.77\",\"12.1\",\"1.0\",\"11.9\",\"15.0\",\"17.0\",\"20.1\"\n"
	got, err := parseBenchmarkCSV(out)
	if err != nil || got.OpsPS != 242130.77 || got.MaxLatencyMs != 20.1 {
		t.Fatalf("parseBenchmarkCSV = %v, %v", got, err)
	}
	if _, err := parseBenchmarkCSV("\"test\",\"rps\"\n"); err == nil {
		t.Error("no result row: want an error")
	}
}
