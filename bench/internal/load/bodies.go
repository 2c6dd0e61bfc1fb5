// Package load generates the HTTP load of the benchmark: the request
// bodies, wrk runs (the load generator of record) and a Go load generator,
// used when wrk is missing and for the open-loop (fixed-rate) loads wrk
// cannot make.
package load

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Devices is how many distinct device ids the bodies use: enough that
// every partition gets a share and the processor touches many device
// hashes per batch, as with a real fleet.
const Devices = 1000

// Bodies builds n JSON request bodies of per points each: one object when
// per is 1 (the seed's form), an array otherwise. Points carry an RFC 3339
// timestamp, coordinates with 6 decimals and one of devices device ids;
// consecutive points belong to different devices, spread over the globe.
// Timestamps start at base and advance 10 ms a point, so they are valid
// (not in the future) whenever base is in the past.
func Bodies(n, per, devices int, base time.Time) [][]byte {
	out := make([][]byte, n)
	k := 0
	for i := range out {
		var b []byte
		if per > 1 {
			b = append(b, '[')
		}
		for j := range per {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendPoint(b, k, devices, base)
			k++
		}
		if per > 1 {
			b = append(b, ']')
		}
		out[i] = b
	}
	return out
}

func appendPoint(b []byte, k, devices int, base time.Time) []byte {
	// A golden-angle spiral: distinct, well spread, reproducible positions.
	f := float64(k%Devices) + 0.5
	lat := math.Asin(2*f/Devices-1) * 180 / math.Pi
	lon := math.Mod(float64(k)*137.50776, 360) - 180
	ts := base.Add(time.Duration(k) * 10 * time.Millisecond).UTC()
	b = append(b, `{"timestamp":"`...)
	b = ts.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","latitude":`...)
	b = strconv.AppendFloat(b, lat, 'f', 6, 64)
	b = append(b, `,"longitude":`...)
	b = strconv.AppendFloat(b, lon, 'f', 6, 64)
	b = append(b, `,"device_id":"`...)
	b = append(b, fmt.Sprintf("dev-%04d", (k*7919)%devices)...)
	return append(b, `"}`...)
}
