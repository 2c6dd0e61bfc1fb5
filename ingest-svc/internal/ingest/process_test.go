package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/window"
)

// jsonPoint is a point as a client uploads it.
type jsonPoint struct {
	Timestamp string  `json:"timestamp"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	DeviceID  string  `json:"device_id"`
}

// ingest uploads pts through POST /upload, in the order given, and fails
// the test unless every point is stored.
func (e *env) ingest(pts ...point.Point) {
	e.t.Helper()
	items := make([]jsonPoint, len(pts))
	for i, p := range pts {
		items[i] = jsonPoint{agg.FormatTime(p.TimeMs), geo.FromFixed(p.LatE7), geo.FromFixed(p.LonE7), p.DeviceID}
	}
	body, err := json.Marshal(items)
	if err != nil {
		e.t.Fatal(err)
	}
	if rec := e.upload(string(body)); rec.Code != http.StatusOK {
		e.t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
}

// process counts every point waiting in the partition streams exactly as
// processor-svc does (its core is internal to its module): XREADGROUP,
// then one apply.lua call per batch adding each point to the keys
// window.Set.AggKeys names at the env's clock.
func (e *env) process() {
	e.t.Helper()
	process(e.t, e.rdb, e.schema, e.wins, e.now.UnixMilli(), 1000)
}

// trackRetention is processor-svc's default --track-retention.
const trackRetention = 7 * 24 * time.Hour

// process is env.process for any client; batch is the XREADGROUP COUNT.
func process(tb testing.TB, c redis.UniversalClient, sc *keys.Schema, wins window.Set, nowMs int64, batch int) {
	tb.Helper()
	ctx := context.Background()
	var aggs []scripts.AggKey
	for p := range sc.Partitions() {
		stream := sc.Stream(p)
		if err := c.XGroupCreateMkStream(ctx, stream, keys.Group, "0").Err(); err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
			tb.Fatalf("xgroup create %s: %v", stream, err)
		}
		for {
			res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: keys.Group, Consumer: "test", Streams: []string{stream, ">"}, Count: int64(batch), Block: -1,
			}).Result()
			if errors.Is(err, redis.Nil) || (err == nil && len(res[0].Messages) == 0) {
				break
			}
			if err != nil {
				tb.Fatalf("xreadgroup %s: %v", stream, err)
			}
			b := scripts.NewApplyBatch(sc, p)
			b.SetTracks(trackRetention, nowMs)
			run := func() {
				r, err := b.Run(ctx, c, keys.Group)
				if err != nil || r.Applied != int64(b.Points()) {
					tb.Fatalf("apply %d entries of %s: %+v %v", b.Len(), stream, r, err)
				}
				b = scripts.NewApplyBatch(sc, p)
				b.SetTracks(trackRetention, nowMs)
			}
			var pts []point.Point
			for _, m := range res[0].Messages {
				var packed bool
				pts, packed, err = point.DecodeEntry(m.Values, pts[:0])
				if err != nil {
					tb.Fatalf("entry %s: %v", m.ID, err)
				}
				if b.Points()+len(pts) > scripts.MaxApplyPoints {
					run()
				}
				if err := b.AddEntry(m.ID, packed); err != nil {
					tb.Fatal(err)
				}
				for _, pt := range pts {
					aggs = wins.AggKeys(sc, p, pt, nowMs, aggs)
					if err := b.AddPoint(pt, sc.Device(p, pt.DeviceID), aggs); err != nil {
						tb.Fatal(err)
					}
				}
			}
			run()
		}
	}
}

// get answers a GET.
func (e *env) get(path string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(req{method: http.MethodGet, path: path})
}

// decodeStrict decodes a 200 answer into v, refusing unknown fields.
func decodeStrict(t *testing.T, path string, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body)
	}
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// at returns the Unix ms of an RFC 3339 time.
func at(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}
