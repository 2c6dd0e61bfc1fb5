package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRun(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer bad.Close()
	if err := run([]string{ok.URL}); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := run([]string{bad.URL}); err == nil {
		t.Error("503: want error")
	}
	if err := run([]string{"http://127.0.0.1:1/"}); err == nil {
		t.Error("refused: want error")
	}
	if err := run(nil); err == nil {
		t.Error("no URL: want usage error")
	}
}
