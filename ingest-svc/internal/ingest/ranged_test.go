package ingest

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/window"
)

// rangeBody is a ranged /retrieve answer as a client decodes it.
type rangeBody struct {
	agg.Summary
	From   string     `json:"from"`
	To     string     `json:"to"`
	Series []slotBody `json:"series"`
}

// slotBody is one entry of series.
type slotBody struct {
	From string `json:"from"`
	To   string `json:"to"`
	agg.Summary
}

// expect returns the summary of the points of pts in [from, to) (of one
// device unless device is ""), computed independently of the API: the
// zero Summary when there are none.
func expect(pts []point.Point, from, to string, device string) agg.Summary {
	var s agg.Sums
	for _, p := range pts {
		if p.TimeMs >= at(from) && p.TimeMs < at(to) && (device == "" || p.DeviceID == device) {
			s.AddPoint(p)
		}
	}
	sum, _ := s.Summary()
	return sum
}

// getRange GETs a ranged /retrieve and checks the range it answered.
func (e *env) getRange(path, from, to string) rangeBody {
	e.t.Helper()
	var b rangeBody
	decodeStrict(e.t, path, e.get(path), &b)
	if b.From != agg.FormatTime(at(from)) || b.To != agg.FormatTime(at(to)) {
		e.t.Errorf("GET %s: range %s .. %s, want %s .. %s", path, b.From, b.To, from, to)
	}
	return b
}

// checkRange checks that a ranged /retrieve answers exactly the summary of
// the points of pts in [from, to).
func (e *env) checkRange(pts []point.Point, from, to, device string, wantCount int64) {
	e.t.Helper()
	path := "/retrieve?from=" + from + "&to=" + to
	if device != "" {
		path += "&device_id=" + device
	}
	want := expect(pts, from, to, device)
	if want.DataCount != wantCount {
		e.t.Fatalf("test data: %d points in %s .. %s, the test says %d", want.DataCount, from, to, wantCount)
	}
	got := e.getRange(path, from, to)
	if got.Series != nil {
		e.t.Errorf("GET %s: series without interval", path)
	}
	if !reflect.DeepEqual(got.Summary, want) {
		e.t.Errorf("GET %s:\n got %+v\nwant %+v", path, got.Summary, want)
	}
}

// wantError checks an error answer's status and that its message holds
// each of has.
func (e *env) wantError(path string, status int, has ...string) {
	e.t.Helper()
	rec := e.get(path)
	if rec.Code != status {
		e.t.Fatalf("GET %s: status %d, want %d: %s", path, rec.Code, status, rec.Body)
	}
	b := errorOf(e.t, rec)
	for _, h := range has {
		if !strings.Contains(b.Error, h) {
			e.t.Errorf("GET %s: error %q does not contain %q", path, b.Error, h)
		}
	}
}

// TestRetrieveRangeStraddles checks ranges that cut through minutes and
// hours: a point on a boundary belongs to the range it starts, the last
// millisecond before to is in, to itself is out.
func TestRetrieveRangeStraddles(t *testing.T) {
	e := newEnv(t)
	a, b := e.deviceIn(0), e.deviceIn(3)
	pts := []point.Point{
		pointAt(a, 10, 20, at("2025-01-23T10:58:30Z")),
		pointAt(a, 11, 21, at("2025-01-23T10:59:59.999Z")),
		pointAt(a, 12, 22, at("2025-01-23T11:00:00Z")),
		pointAt(a, 13, 23, at("2025-01-23T11:01:59.999Z")),
		pointAt(a, 14, 24, at("2025-01-23T11:02:00Z")), // == to: out
		pointAt(b, -5, 179.5, at("2025-01-23T10:57:59.999Z")),
		pointAt(b, -6, -179.5, at("2025-01-23T11:00:30Z")),
	}
	e.ingest(pts...)
	e.process()

	e.checkRange(pts, "2025-01-23T10:58:00Z", "2025-01-23T11:02:00Z", "", 5) // 4 × 1m
	e.checkRange(pts, "2025-01-23T10:58:00Z", "2025-01-23T11:02:00Z", a, 4)  // device buckets
	e.checkRange(pts, "2025-01-23T10:58:00Z", "2025-01-23T11:02:00Z", b, 1)  //
	e.checkRange(pts, "2025-01-23T10:00:00Z", "2025-01-23T12:00:00Z", "", 7) // 2 × 1h
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T11:01:00Z", "", 2) // one minute
	e.checkRange(pts, "2025-01-23T10:59:00Z", "2025-01-23T11:00:00Z", a, 1)  // the minute before the hour
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", b, 1)  // across the antimeridian
	e.checkRange(pts, "2025-01-23T00:00:00Z", "2025-01-24T00:00:00Z", "", 7) // one day
	e.checkRange(pts, "2025-01-23T11:02:00Z", "2025-01-23T11:03:00Z", a, 1)  // to of the first range
	// By hand, the first range: the means of latitudes 10..13 and -6.
	got := e.getRange("/retrieve?from=2025-01-23T10:58:00Z&to=2025-01-23T11:02:00Z", "2025-01-23T10:58:00Z", "2025-01-23T11:02:00Z")
	if got.DataCount != 5 || !near(got.AverageLatitude, (10+11+12+13-6)/5.0) ||
		got.FirstTimestamp != "2025-01-23T10:58:30.000Z" || got.LastTimestamp != "2025-01-23T11:01:59.999Z" {
		t.Errorf("range summary %+v", got.Summary)
	}
	// An empty range is the seed's no-data answer.
	e.wantError("/retrieve?from=2025-01-23T09:00:00Z&to=2025-01-23T10:00:00Z", http.StatusBadRequest, msgNoData)
	e.wantError("/retrieve?from=2025-01-23T11:00:00Z&to=2025-01-23T11:01:00Z&device_id=ghost", http.StatusBadRequest, msgNoData)
}

// TestRetrieveLateAndOutOfOrder uploads points in reverse time order and a
// late point after the processor has counted the later ones: a late point
// updates its buckets while they exist; one older than a resolution's
// retention is counted at the coarser resolutions and all time only.
func TestRetrieveLateAndOutOfOrder(t *testing.T) {
	e := newEnv(t)
	a, b := e.deviceIn(1), e.deviceIn(2)
	first := []point.Point{
		pointAt(a, 3, 3, at("2025-01-23T11:40:00Z")),
		pointAt(b, 2, 2, at("2025-01-23T11:20:00Z")),
		pointAt(a, 1, 1, at("2025-01-23T11:10:00Z")),
	}
	e.ingest(first...)
	e.process()
	late := []point.Point{
		pointAt(a, 4, 4, at("2025-01-23T11:10:30Z")), // 50 min late, same minute as an earlier point
		pointAt(a, 5, 5, at("2025-01-23T03:10:00Z")), // older than the 6h of device minutes
	}
	e.ingest(late...)
	e.process()
	all := append(first, late...)

	e.checkRange(all, "2025-01-23T11:10:00Z", "2025-01-23T11:11:00Z", "", 2)
	e.checkRange(all, "2025-01-23T11:10:00Z", "2025-01-23T11:11:00Z", a, 2)
	e.checkRange(all, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", a, 3)
	e.checkRange(all, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", "", 4)
	// The 03:10 point: in every bucket of all devices (1m are kept 48h)
	// and in its device's hour and day, but its device minute had expired
	// when it arrived, so that minute is refused for the device, not
	// answered as empty.
	e.checkRange(all, "2025-01-23T03:10:00Z", "2025-01-23T03:11:00Z", "", 1)
	e.checkRange(all, "2025-01-23T03:00:00Z", "2025-01-23T04:00:00Z", a, 1)
	e.checkRange(all, "2025-01-23T00:00:00Z", "2025-01-24T00:00:00Z", a, 4)
	e.wantError("/retrieve?from=2025-01-23T03:10:00Z&to=2025-01-23T03:11:00Z&device_id="+a, http.StatusBadRequest,
		"buckets at 2025-01-23T03:10:00Z that fit the range are no longer kept", "1m 6h")
	if e.m.Exists(e.schema.DeviceBucket(e.schema.PartitionOf(a), a, "1m", at("2025-01-23T03:10:00Z"))) {
		t.Error("the expired device minute of the late point was created")
	}
	// All time counts everything; the last position is the latest by
	// event time, not the last to arrive.
	if s := getSummary(t, e, "/retrieve?device_id="+a); s.DataCount != 4 {
		t.Errorf("device %s all time: %d points, want 4", a, s.DataCount)
	}
	d := e.getDevice(a)
	if d.LastPosition == nil || d.LastPosition.Latitude != 3 || d.LastPosition.Timestamp != "2025-01-23T11:40:00.000Z" {
		t.Errorf("last position %+v, want latitude 3 at 11:40", d.LastPosition)
	}
}

// TestRetrieveSeveralResolutions asks for 23:58 to 02:00: two minutes
// then two hours, read from 1m and 1h buckets and merged.
func TestRetrieveSeveralResolutions(t *testing.T) {
	e := newEnv(t)
	a, b := e.deviceIn(0), e.deviceIn(1)
	pts := []point.Point{
		pointAt(a, 1, 1, at("2025-01-22T23:57:59.999Z")), // out
		pointAt(a, 2, 2, at("2025-01-22T23:58:00Z")),
		pointAt(b, 3, 3, at("2025-01-22T23:59:59.999Z")),
		pointAt(a, 4, 4, at("2025-01-23T00:00:00Z")),
		pointAt(b, 5, 5, at("2025-01-23T00:59:59Z")),
		pointAt(a, 6, 6, at("2025-01-23T01:30:00Z")),
		pointAt(b, 7, 7, at("2025-01-23T02:00:00Z")), // out
	}
	e.ingest(pts...)
	e.process()
	// The plan: two minutes, then two hours, in each of the 4 partitions.
	h := &handlers{cfg: e.cfg, schema: e.schema, wins: e.wins}
	v := url.Values{"from": {"2025-01-22T23:58:00Z"}, "to": {"2025-01-23T02:00:00Z"}}
	q, err := window.ParseQuery(v, e.now, e.wins)
	if err != nil {
		t.Fatal(err)
	}
	slots, keys, err := h.planRange(q, e.now)
	if err != nil || len(slots) != 1 || len(keys) != 16 {
		t.Fatalf("plan: %v %+v %d keys", err, slots, len(keys))
	}
	for i, want := range []string{
		e.schema.Bucket(0, "1m", at("2025-01-22T23:58:00Z")), e.schema.Bucket(0, "1m", at("2025-01-22T23:59:00Z")),
		e.schema.Bucket(0, "1h", at("2025-01-23T00:00:00Z")), e.schema.Bucket(0, "1h", at("2025-01-23T01:00:00Z")),
	} {
		if keys[4*i] != want {
			t.Errorf("key %d = %s, want %s", 4*i, keys[4*i], want)
		}
	}
	e.checkRange(pts, "2025-01-22T23:58:00Z", "2025-01-23T02:00:00Z", "", 5)
	got := e.getRange("/retrieve?from=2025-01-22T23:58:00Z&to=2025-01-23T02:00:00Z", "2025-01-22T23:58:00Z", "2025-01-23T02:00:00Z")
	if got.DataCount != 5 || !near(got.AverageLatitude, 4) || got.FirstTimestamp != "2025-01-22T23:58:00.000Z" || got.LastTimestamp != "2025-01-23T01:30:00.000Z" {
		t.Errorf("summary %+v", got.Summary)
	}
	// Per device, minutes are kept 6h: 23:58 is 12h before the clock, so
	// the range cannot be answered exactly; whole hours can.
	e.wantError("/retrieve?from=2025-01-22T23:58:00Z&to=2025-01-23T02:00:00Z&device_id="+a, http.StatusBadRequest,
		"buckets at 2025-01-22T23:58:00Z that fit the range are no longer kept")
	e.checkRange(pts, "2025-01-22T23:00:00Z", "2025-01-23T02:00:00Z", a, 4)
	// 1d + 1h + 1m: a day, an hour, a minute.
	e.checkRange(pts, "2025-01-22T00:00:00Z", "2025-01-23T01:01:00Z", "", 5)
}

// TestRetrieveSeries checks interval answers: one entry per interval,
// empty intervals with data_count 0 and nothing else.
func TestRetrieveSeries(t *testing.T) {
	e := newEnv(t)
	a, b := e.deviceIn(0), e.deviceIn(2)
	pts := []point.Point{
		pointAt(a, 10, 10, at("2025-01-23T09:10:00Z")),
		pointAt(b, 20, 20, at("2025-01-23T09:20:00Z")),
		pointAt(a, 30, 30, at("2025-01-23T11:05:00Z")),
	}
	e.ingest(pts...)
	e.process()

	// The exact body, to pin the JSON shape. The centroid comes from unit
	// vectors in 1e-9 fixed point, so it is 30 within 1e-8 degrees.
	rec := e.get("/retrieve?from=2025-01-23T10:00:00Z&to=2025-01-23T12:00:00Z&interval=1h&device_id=" + a)
	want := `{"average_latitude":30,"average_longitude":30,"data_count":1,"centroid":{"latitude":29.999999998456158,"longitude":30.000000006175384},` +
		`"bbox":{"min_latitude":30,"min_longitude":30,"max_latitude":30,"max_longitude":30},` +
		`"first_timestamp":"2025-01-23T11:05:00.000Z","last_timestamp":"2025-01-23T11:05:00.000Z",` +
		`"from":"2025-01-23T10:00:00.000Z","to":"2025-01-23T12:00:00.000Z","series":[` +
		`{"from":"2025-01-23T10:00:00.000Z","to":"2025-01-23T11:00:00.000Z","data_count":0},` +
		`{"from":"2025-01-23T11:00:00.000Z","to":"2025-01-23T12:00:00.000Z","average_latitude":30,"average_longitude":30,"data_count":1,` +
		`"centroid":{"latitude":29.999999998456158,"longitude":30.000000006175384},"bbox":{"min_latitude":30,"min_longitude":30,"max_latitude":30,"max_longitude":30},` +
		`"first_timestamp":"2025-01-23T11:05:00.000Z","last_timestamp":"2025-01-23T11:05:00.000Z"}]}`
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Fatalf("status %d, body\n%s\nwant\n%s", rec.Code, rec.Body, want)
	}

	// window=3h&interval=1h at 11:30 ends at the end of the current hour.
	e.now = time.Date(2025, 1, 23, 11, 30, 0, 0, time.UTC)
	got := e.getRange("/retrieve?window=3h&interval=1h", "2025-01-23T09:00:00Z", "2025-01-23T12:00:00Z")
	if !reflect.DeepEqual(got.Summary, expect(pts, "2025-01-23T09:00:00Z", "2025-01-23T12:00:00Z", "")) {
		t.Errorf("total %+v", got.Summary)
	}
	bounds := []string{"2025-01-23T09:00:00Z", "2025-01-23T10:00:00Z", "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z"}
	if len(got.Series) != 3 {
		t.Fatalf("series of %d, want 3: %+v", len(got.Series), got.Series)
	}
	for i, s := range got.Series {
		if s.From != agg.FormatTime(at(bounds[i])) || s.To != agg.FormatTime(at(bounds[i+1])) {
			t.Errorf("slot %d: %s .. %s", i, s.From, s.To)
		}
		if w := expect(pts, bounds[i], bounds[i+1], ""); !reflect.DeepEqual(s.Summary, w) {
			t.Errorf("slot %d: %+v, want %+v", i, s.Summary, w)
		}
	}
	if got.Series[0].DataCount != 2 || got.Series[1].DataCount != 0 || got.Series[2].DataCount != 1 {
		t.Errorf("counts %d %d %d, want 2 0 1", got.Series[0].DataCount, got.Series[1].DataCount, got.Series[2].DataCount)
	}
	// Minutes: 180 entries, two of them non-empty at 09:10 and 09:20 ...
	got = e.getRange("/retrieve?from=2025-01-23T09:00:00Z&to=2025-01-23T12:00:00Z&interval=1m", "2025-01-23T09:00:00Z", "2025-01-23T12:00:00Z")
	var nonEmpty []string
	for _, s := range got.Series {
		if s.DataCount > 0 {
			nonEmpty = append(nonEmpty, s.From)
		}
	}
	if len(got.Series) != 180 || strings.Join(nonEmpty, " ") != "2025-01-23T09:10:00.000Z 2025-01-23T09:20:00.000Z 2025-01-23T11:05:00.000Z" {
		t.Errorf("%d minutes, non-empty %v", len(got.Series), nonEmpty)
	}
	// ... and a series with no point at all is the no-data answer.
	e.wantError("/retrieve?from=2025-01-23T06:00:00Z&to=2025-01-23T09:00:00Z&interval=1h", http.StatusBadRequest, msgNoData)
}

// TestRetrieveRetention moves the clock past each resolution's
// retention: an expired part of a range is a 400 naming the retention,
// never an answer that silently lacks those points; coarser buckets and
// the all-time totals still count them.
func TestRetrieveRetention(t *testing.T) {
	e := newEnv(t)
	a := e.deviceIn(0)
	pts := []point.Point{pointAt(a, 1, 2, at("2025-01-23T11:00:30Z"))}
	e.ingest(pts...)
	e.process()
	minute, hour, day := "from=2025-01-23T11:00:00Z&to=2025-01-23T11:01:00Z",
		"from=2025-01-23T11:00:00Z&to=2025-01-23T12:00:00Z", "from=2025-01-23T00:00:00Z&to=2025-01-24T00:00:00Z"
	minuteKey := e.schema.Bucket(e.schema.PartitionOf(a), "1m", at("2025-01-23T11:00:00Z"))
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T11:01:00Z", "", 1)

	// 30 s before the minute bucket expires (at 11:01 + 48h) Redis still
	// holds it, but it is refused: it could expire before it is read.
	e.advance(47*time.Hour + 30*time.Second) // from 12:00 to 11:00:30 two days later
	if !e.m.Exists(minuteKey) {
		t.Fatal("minute bucket gone before its expiry")
	}
	e.wantError("/retrieve?"+minute, http.StatusBadRequest, "no longer kept", "1m 2d")
	e.advance(time.Minute)
	if e.m.Exists(minuteKey) {
		t.Fatal("minute bucket kept after its expiry")
	}
	e.wantError("/retrieve?"+minute, http.StatusBadRequest, "buckets at 2025-01-23T11:00:00Z that fit the range are no longer kept", "add interval=1h")
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", "", 1)
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", a, 1)

	// A late point of the expired minute: counted in the hour, the day and
	// all time, and the minute is not created again.
	late := pointAt(a, 3, 4, at("2025-01-23T11:00:40Z"))
	pts = append(pts, late)
	e.ingest(late)
	e.process()
	if e.m.Exists(minuteKey) {
		t.Error("a late point recreated an expired bucket")
	}
	e.wantError("/retrieve?"+minute, http.StatusBadRequest, "no longer kept")
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", "", 2)

	// Past the device hours (30 days), then all hours (90 days), then the
	// device days (1 year), then all days (10 years).
	e.advance(30 * 24 * time.Hour)
	e.wantError("/retrieve?"+hour+"&device_id="+a, http.StatusBadRequest, "no longer kept", "1h 30d")
	e.checkRange(pts, "2025-01-23T11:00:00Z", "2025-01-23T12:00:00Z", "", 2)
	e.checkRange(pts, "2025-01-23T00:00:00Z", "2025-01-24T00:00:00Z", a, 2)
	e.advance(60 * 24 * time.Hour)
	e.wantError("/retrieve?"+hour, http.StatusBadRequest, "no longer kept", "1h 90d")
	e.checkRange(pts, "2025-01-23T00:00:00Z", "2025-01-24T00:00:00Z", "", 2)
	e.advance(365 * 24 * time.Hour)
	e.wantError("/retrieve?"+day+"&device_id="+a, http.StatusBadRequest, "no longer kept")
	e.checkRange(pts, "2025-01-23T00:00:00Z", "2025-01-24T00:00:00Z", "", 2)
	e.advance(10 * 365 * 24 * time.Hour)
	e.wantError("/retrieve?"+day, http.StatusBadRequest, "no longer kept", "1d 3650d", "nothing is kept for that time but the all-time summary")
	for _, k := range e.m.Keys() {
		if strings.Contains(k, ":b:") || strings.Contains(k, ":db:") {
			t.Errorf("bucket %s outlived every retention", k)
		}
	}
	// All time still counts both points.
	if s := getSummary(t, e, "/retrieve"); s.DataCount != 2 {
		t.Errorf("all time: %d points, want 2", s.DataCount)
	}
	if s := getSummary(t, e, "/retrieve?device_id="+a); s.DataCount != 2 {
		t.Errorf("device all time: %d points, want 2", s.DataCount)
	}
}

func TestRetrieveRangeErrors(t *testing.T) {
	e := newEnv(t)
	e.ingest(pointAt("a", 1, 1, at("2025-01-23T11:00:00Z")))
	e.process()
	for _, tt := range []struct{ query, errHas string }{
		{"from=2025-01-23T11:00:30Z&to=2025-01-23T11:02:00Z", "whole 1m boundaries"},
		{"from=2025-01-23T11:00:00Z&to=2025-01-23T10:00:00Z", "from must be before to"},
		{"from=yesterday", "RFC 3339"},
		{"to=2025-01-23T11:00:00Z", "to needs from"},
		{"window=15m&from=2025-01-23T11:00:00Z", "either window or from/to"},
		{"window=90s", "multiple of 1m"},
		{"interval=1h", "interval needs a range"},
		{"window=30d&interval=1m", "more than 1440"},
		{"window=1h&window=2h", "window is given 2 times"},
		{"foo=1&bar=2", "unknown parameter(s) bar, foo"},
		{"from=2015-01-23T11:00:00Z&to=2015-01-23T11:01:00Z", "no longer kept"},
		// 46 hours off the hour: 60 minute buckets each.
		{"from=2025-01-21T13:01:00Z&to=2025-01-23T11:01:00Z&interval=1h", "more than 2000 bucket reads"},
		{"device_id=a%20b&window=1h", "device_id must be 1-128 characters"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			e.wantError("/retrieve?"+tt.query, http.StatusBadRequest, tt.errHas)
		})
	}

	t.Run("max-range-buckets", func(t *testing.T) {
		e := newEnv(t, func(c *RouterConfig) { c.MaxRangeBuckets = 10 })
		e.ingest(pointAt("a", 1, 1, at("2025-01-23T11:55:00Z")))
		e.process()
		e.wantError("/retrieve?window=15m", http.StatusBadRequest, "more than 10 bucket reads") // 15 one-minute buckets
		if rec := e.get("/retrieve?window=10m"); rec.Code != http.StatusOK {
			t.Errorf("10 buckets: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("redis down", func(t *testing.T) {
		e := newEnv(t)
		e.m.Close()
		rec := e.get("/retrieve?window=1h&interval=1m")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("status %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	})
	t.Run("corrupt bucket", func(t *testing.T) {
		e := newEnv(t)
		e.m.HSet(e.schema.Bucket(2, "1h", at("2025-01-23T10:00:00Z")), agg.FieldCount, "many")
		rec := e.get("/retrieve?from=2025-01-23T10:00:00Z&to=2025-01-23T11:00:00Z")
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		errorOf(t, rec)
	})
}
