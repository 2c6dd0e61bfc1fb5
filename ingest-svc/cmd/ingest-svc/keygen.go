package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/geostream/geostream/ingest-svc/internal/apikey"
)

// keygen makes a new API key and prints it with the key-file line that
// holds its hash: the key goes to the client, the line to the key file
// (--api-keys-file or GEOSTREAM_API_KEYS). The key itself is stored
// nowhere.
func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest-svc keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "the key's id, for logs and metrics (required)")
	scopes := fs.String("scopes", "write,read", "comma-separated scopes: write, read, metrics")
	prefixes := fs.String("prefixes", "", "comma-separated device-id prefixes the key is limited to (empty: every device)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ingest-svc keygen --id <id> [--scopes write,read] [--prefixes truck-,van-]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keygen: unexpected arguments %q", fs.Args())
	}
	if *id == "" {
		return errors.New("keygen: --id is required (it names the key in logs and metrics)")
	}
	key, err := apikey.Generate()
	if err != nil {
		return err
	}
	fields := []string{*id, apikey.Hash(key), *scopes}
	if *prefixes != "" {
		fields = append(fields, *prefixes)
	}
	line := strings.Join(fields, " ")
	// The line must load as the service would load it.
	if _, err := apikey.Parse(strings.NewReader(line), "keygen"); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "api key (give it to the client; it is shown once and stored nowhere):\n%s\n", key)
	fmt.Fprintf(stdout, "key file line (add it to --api-keys-file or GEOSTREAM_API_KEYS):\n%s\n", line)
	return nil
}
