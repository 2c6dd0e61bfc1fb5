package apitest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUploadDecodesAsTheAPI checks that the fake takes and refuses bodies
// as ingest-svc does: it runs the API's decoder.
func TestUploadDecodesAsTheAPI(t *testing.T) {
	s := New(t)
	for _, tt := range []struct {
		name, ctype, body string
		code              int
		errHas            string
	}{
		{"object", "application/json", `{"latitude":1,"longitude":2}`, 200, ""},
		{"array with battery", "application/json", `[{"latitude":1,"longitude":2,"battery":80},{"latitude":3,"longitude":4}]`, 200, ""},
		{"ndjson", "application/x-ndjson", "{\"latitude\":1,\"longitude\":2}\n\n{\"latitude\":3,\"longitude\":4}\n", 200, ""},
		{"unknown field", "application/json", `{"latitude":1,"lngitude":2}`, 400, "lngitude: unknown field"},
		{"out of range", "application/json", `{"latitude":91,"longitude":2}`, 400, "latitude: must be between -90 and 90"},
		{"empty array", "application/json", `[]`, 400, "the array is empty"},
		{"too many", "application/json", "[" + strings.Repeat(`{"latitude":1,"longitude":2},`, 10_000) + `{"latitude":1,"longitude":2}]`, 413, "too many points"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(s.URL+"/upload", tt.ctype, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.errHas) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, b, tt.code, tt.errHas)
			}
		})
	}
	if got := s.StoredPoints(); got != 5 {
		t.Errorf("%d points stored, want the 5 of the valid bodies", got)
	}
}
