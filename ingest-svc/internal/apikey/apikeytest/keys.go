// Package apikeytest holds the API keys the tests of ingest-svc share.
package apikeytest

import "strings"

// The keys (each at least apikey.MinLen characters).
const (
	Writer  = "gs_writer-key-000000000000000000000000000000"
	Reader  = "gs_reader-key-000000000000000000000000000000"
	Truck   = "gs_truck-key-0000000000000000000000000000000" // write,read, devices truck-*
	Metrics = "gs_metrics-key-00000000000000000000000000000"
	All     = "gs_all-key-000000000000000000000000000000000"
	Unknown = "gs_unknown-key-00000000000000000000000000000" // defined nowhere
)

// Defs defines the keys but Unknown in the key-file format; hash is
// apikey.Hash (passed in, so that apikey's own tests may use this package).
func Defs(hash func(string) string) string {
	return strings.Join([]string{
		"writer " + hash(Writer) + " write",
		"reader " + hash(Reader) + " read",
		"truck " + hash(Truck) + " write,read truck-",
		"prom " + hash(Metrics) + " metrics",
		"all " + hash(All) + " write,read,metrics",
	}, "\n")
}
