package apikey

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
)

func TestPresented(t *testing.T) {
	for _, tt := range []struct {
		name    string
		where   Where
		header  map[string][]string
		query   string
		want    string
		wantErr string // in the CredentialsError's Reason
	}{
		{name: "none", where: Headers},
		{name: "bearer", where: Headers, header: map[string][]string{"Authorization": {"Bearer  " + apikeytest.Writer + " "}}, want: apikeytest.Writer},
		{name: "bearer, any case", where: Headers, header: map[string][]string{"Authorization": {"bearer " + apikeytest.Writer}}, want: apikeytest.Writer},
		{name: "x-api-key", where: Headers, header: map[string][]string{"X-Api-Key": {apikeytest.Writer}}, want: apikeytest.Writer},
		{name: "both, the same", where: Headers, header: map[string][]string{"Authorization": {"Bearer " + apikeytest.Writer}, "X-Api-Key": {apikeytest.Writer}}, want: apikeytest.Writer},
		{name: "both, different", where: Headers, header: map[string][]string{"Authorization": {"Bearer " + apikeytest.Writer}, "X-Api-Key": {apikeytest.Reader}}, wantErr: "different keys"},
		{name: "two authorization headers", where: Headers, header: map[string][]string{"Authorization": {"Bearer a", "Bearer a"}}, wantErr: "one Authorization"},
		{name: "two x-api-key headers", where: Headers, header: map[string][]string{"X-Api-Key": {"a", "a"}}, wantErr: "one X-API-Key"},
		{name: "empty bearer", where: Headers, header: map[string][]string{"Authorization": {"Bearer "}}, wantErr: "empty"},
		{name: "basic on the API", where: Headers, header: map[string][]string{"Authorization": {"Basic dTpw"}}, wantErr: "Bearer scheme"},
		{name: "query on the API is no key", where: Headers, query: "key=" + apikeytest.Writer},
		{name: "basic password", where: DeviceApps, header: map[string][]string{"Authorization": {"Basic " + basic("user", apikeytest.Writer)}}, want: apikeytest.Writer},
		{name: "basic that does not decode", where: DeviceApps, header: map[string][]string{"Authorization": {"Basic !!"}}, wantErr: "do not decode"},
		{name: "digest", where: DeviceApps, header: map[string][]string{"Authorization": {"Digest x"}}, wantErr: "Bearer or Basic"},
		{name: "key in the URL", where: DeviceApps, query: "key=" + apikeytest.Writer, want: apikeytest.Writer},
		{name: "access_token in the URL", where: DeviceApps, query: "access_token=" + apikeytest.Writer, want: apikeytest.Writer},
		{name: "key twice in the URL", where: DeviceApps, query: "key=a&key=a", wantErr: "send key once"},
		{name: "URL and header agree", where: DeviceApps, header: map[string][]string{"X-Api-Key": {apikeytest.Writer}}, query: "key=" + apikeytest.Writer, want: apikeytest.Writer},
		{name: "URL and header differ", where: DeviceApps, header: map[string][]string{"Authorization": {"Bearer " + apikeytest.Writer}}, query: "key=" + apikeytest.All, wantErr: "different keys"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
			for k, vs := range tt.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			got, err := Presented(r, tt.where)
			if tt.wantErr != "" {
				var ce *CredentialsError
				if !errors.As(err, &ce) || !strings.Contains(ce.Reason, tt.wantErr) {
					t.Fatalf("error %v, want a CredentialsError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Presented = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// basic is the credentials of a Basic Authorization header.
func basic(user, password string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return cred
}
