package scripts_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
)

// BenchmarkTrackMemory measures the memory a track point takes in a real
// redis-server: 100 devices sending one point a second for two hours,
// counted by applysums.lua with tracks on, each call holding perCall
// points of each device (one list element); used_memory with the track
// lists less used_memory after deleting them, per point. "extras" gives
// every point a phone's altitude, speed, heading and accuracy.
//
//	go test ./streamkit/scripts -run '^$' -bench TrackMemory -benchtime 1x
func BenchmarkTrackMemory(b *testing.B) {
	c := redistest.Start(b).Client()
	for _, perCall := range []int{1, 10} {
		for _, extras := range []bool{false, true} {
			b.Run(fmt.Sprintf("perCall=%d/extras=%v", perCall, extras), func(b *testing.B) {
				for b.Loop() {
					b.ReportMetric(trackMemory(b, c, perCall, extras), "B/point")
				}
			})
		}
	}
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory")
	return 0
}

func trackMemory(b *testing.B, c *redis.Client, perCall int, extras bool) float64 {
	ctx := context.Background()
	c.FlushAll(ctx)
	s, err := keys.New("", 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.XGroupCreateMkStream(ctx, s.Stream(0), keys.Group, "0").Err(); err != nil {
		b.Fatal(err)
	}
	const devices, seconds = 100, 7200
	now := time.Now().UnixMilli()
	start := point.HourStart(now) - 2*point.HourMs
	r := rand.New(rand.NewPCG(1, 2))
	lat, lon := make([]int64, devices), make([]int64, devices)
	for d := range lat {
		lat[d], lon[d] = 480_000_000+r.Int64N(10_000_000), 110_000_000+r.Int64N(10_000_000)
	}
	total := 0
	for sec := 0; sec < seconds; sec += perCall {
		ab := scripts.AppendBatch{Stream: s.Stream(0), Backlog: s.Backlog(0)}
		var pts []point.Point
		for d := range devices {
			for k := range perCall {
				lat[d] += r.Int64N(200) - 100
				lon[d] += r.Int64N(200) - 100
				p := point.Point{DeviceID: fmt.Sprintf("dev-%04d", d), TimeMs: start + int64(sec+k)*1000 + r.Int64N(1000), LatE7: lat[d], LonE7: lon[d]}
				if extras {
					alt, spd, hdg, acc := float64(300+r.IntN(1000))/10, float64(r.IntN(3000))/100, float64(r.IntN(360)), float64(3+r.IntN(20))
					p.Extras = point.Extras{Altitude: &alt, Speed: &spd, Heading: &hdg, Accuracy: &acc}
				}
				pts = append(pts, p)
			}
		}
		for i := range pts {
			ab.Add(&pts[i])
		}
		if _, err := ab.Run(ctx, c); err != nil {
			b.Fatal(err)
		}
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keys.Group, Consumer: "c", Streams: []string{s.Stream(0), ">"}, Block: -1}).Result()
		if err != nil {
			b.Fatal(err)
		}
		sb := scripts.NewSumBatch(s, 0)
		sb.SetTracks(24*time.Hour, now)
		for _, m := range res[0].Messages {
			got, packed, err := point.DecodeEntry(m.Values, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := sb.AddEntry(m.ID, packed); err != nil {
				b.Fatal(err)
			}
			for _, p := range got {
				if err := sb.AddPoint(p, s.Device(0, p.DeviceID), []scripts.AggKey{{Key: s.Total(0)}}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, all, err := sb.Run(ctx, c, keys.Group, "c"); err != nil || !all {
			b.Fatal(all, err)
		}
		total += len(pts)
	}
	trk, err := c.Keys(ctx, "gs:*trk:*").Result()
	if err != nil || len(trk) != devices*2 { // two clock hours
		b.Fatalf("%d track keys, %v", len(trk), err)
	}
	var n int64
	for _, k := range trk {
		var h int64
		var id string
		if _, err := fmt.Sscanf(strings.TrimPrefix(k, "gs:{p0}:trk:"), "%d:%s", &h, &id); err != nil {
			b.Fatal(k, err)
		}
		for _, el := range c.LRange(ctx, k, 0, -1).Val() {
			pts, err := point.DecodeTrackRecords([]byte(el), h, id, nil)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(pts))
		}
	}
	if n != int64(total) {
		b.Fatalf("tracks hold %d points, sent %d", n, total)
	}
	with := usedMemory(b, c)
	c.Del(ctx, trk...)
	return float64(with-usedMemory(b, c)) / float64(total)
}

// BenchmarkApplySumsTracks is the cost of tracks to applysums.lua: a
// 5,000-point batch of 250 devices (delta mode, no AOF) with tracks off
// and on.
//
//	go test ./streamkit/scripts -run '^$' -bench ApplySumsTracks -benchtime 20x -count 3
func BenchmarkApplySumsTracks(b *testing.B) {
	ctx := context.Background()
	c := redistest.Start(b, "--appendonly", "no").Client()
	for _, retention := range []time.Duration{0, 24 * time.Hour} {
		b.Run(fmt.Sprintf("tracks=%v", retention > 0), func(b *testing.B) {
			sc, err := keys.New(fmt.Sprintf("bt%d", retention/time.Hour), 1)
			if err != nil {
				b.Fatal(err)
			}
			c.Del(ctx, sc.Stream(0))
			if err := c.XGroupCreateMkStream(ctx, sc.Stream(0), keys.Group, "$").Err(); err != nil {
				b.Fatal(err)
			}
			now := time.Now().UnixMilli()
			pts := benchPoints(5000, 250, now-600_000)
			for i := range pts {
				pts[i].TimeMs = now - 600_000 + int64(i)*10
			}
			for b.Loop() {
				b.StopTimer()
				batch := scripts.NewSumBatch(sc, 0)
				batch.SetTracks(retention, now)
				for _, m := range deliver(b, c, sc, pts) {
					got, packed, err := point.DecodeEntry(m.Values, nil)
					if err != nil {
						b.Fatal(err)
					}
					batch.AddEntry(m.ID, packed)
					for _, p := range got {
						batch.AddPoint(p, sc.Device(0, p.DeviceID), []scripts.AggKey{{Key: sc.Total(0), Shared: true}})
					}
				}
				b.StartTimer()
				if n, all, err := batch.Run(ctx, c, keys.Group, "bench"); err != nil || !all || n != int64(batch.Len()) {
					b.Fatalf("apply sums: %d %v %v", n, all, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5000, "ns/point")
		})
	}
}
