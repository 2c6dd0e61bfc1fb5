package main

import (
	"io"
	"strings"
	"sync"
)

// syncWriter serialises writes from several goroutines, and reads of what
// was written.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// contains reports whether what was written holds sub; the writer must be
// a strings.Builder.
func (s *syncWriter) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Contains(s.w.(*strings.Builder).String(), sub)
}
