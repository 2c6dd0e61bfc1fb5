// Package durfmt prints durations for people: "90d", "2d 6h", "1122d
// 13h29m6.25s", instead of time.Duration's "2160h0m0s".
package durfmt

import (
	"strconv"
	"strings"
	"time"
)

// Human returns d as whole days, then the rest as time.Duration prints it
// without its zero tail ("6h", not "6h0m0s"); exact, so that "5m0.001s"
// stays distinct from "5m".
func Human(d time.Duration) string {
	if d < 0 {
		return "-" + Human(-d)
	}
	const day = 24 * time.Hour
	days, rest := d/day, d%day
	var parts []string
	if days > 0 {
		parts = append(parts, strconv.FormatInt(int64(days), 10)+"d")
	}
	if rest > 0 || days == 0 {
		s := rest.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}
