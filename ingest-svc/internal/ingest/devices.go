package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// Page sizes of GET /devices.
const (
	// DefaultDevicesLimit is the page size without limit.
	DefaultDevicesLimit = 100
	// MaxDevicesLimit bounds limit: a page costs one read per device.
	MaxDevicesLimit = 1000
)

// deviceItem is one device of GET /devices.
type deviceItem struct {
	DeviceID string `json:"device_id"`
	// Count is the device's points counted so far (all time).
	Count int64 `json:"count"`
	// LastPosition is the position with the latest event time; null only
	// for a device whose hash was removed from Redis.
	LastPosition *lastPosition `json:"last_position"`
	// LastSeen is the latest event time of the device's points (the time
	// of LastPosition).
	LastSeen *string `json:"last_seen"`
	// DistanceM is the distance in metres of LastPosition from the centre
	// of a near or bbox query (near.go); absent otherwise.
	DistanceM *float64 `json:"distance_m,omitempty"`
}

// lastPosition is a device's latest position by event time, with the
// optional measurements sent with it.
type lastPosition struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Timestamp string  `json:"timestamp"`
	extrasJSON
}

// extrasJSON are a point's optional measurements, absent when not sent.
type extrasJSON struct {
	Altitude *float64 `json:"altitude,omitempty"`
	Speed    *float64 `json:"speed,omitempty"`
	Heading  *float64 `json:"heading,omitempty"`
	Accuracy *float64 `json:"accuracy,omitempty"`
	Battery  *float64 `json:"battery,omitempty"`
}

func extrasJSONOf(e point.Extras) extrasJSON {
	return extrasJSON{Altitude: e.Altitude, Speed: e.Speed, Heading: e.Heading, Accuracy: e.Accuracy, Battery: e.Battery}
}

// devicesPage is the body of GET /devices.
type devicesPage struct {
	Devices []deviceItem `json:"devices"`
	// NextCursor is the cursor of the next page, null on the last page.
	NextCursor *string `json:"next_cursor"`
}

// deviceAnswer is the body of GET /devices/{id}: the list's fields and the
// device's all-time summary (the body of /retrieve?device_id=).
type deviceAnswer struct {
	deviceItem
	Summary agg.Summary `json:"summary"`
}

// checkParams returns what is wrong with a query's parameter names: one
// not in allowed, or one given twice; "" when nothing.
func checkParams(v url.Values, allowed ...string) string {
	var unknown []string
	for k, vals := range v {
		switch {
		case !slices.Contains(allowed, k):
			unknown = append(unknown, k)
		case len(vals) > 1:
			return fmt.Sprintf("parameter %s is given %d times", k, len(vals))
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	slices.Sort(unknown)
	if len(allowed) == 0 {
		return fmt.Sprintf("unknown parameter(s) %s; this endpoint takes none", strings.Join(unknown, ", "))
	}
	return fmt.Sprintf("unknown parameter(s) %s; accepted: %s", strings.Join(unknown, ", "), strings.Join(allowed, ", "))
}

// listDevices handles GET /devices?cursor=<last id>&limit=N: the devices
// in id order, limit per page, each with its count and last position.
// next_cursor is the last id of the page when more may follow. A key
// limited to device-id prefixes sees its devices only. With near= or
// bbox=, listNear answers.
func (h *handlers) listDevices(c *gin.Context) {
	if v, err := url.ParseQuery(c.Request.URL.RawQuery); err == nil && isGeoQuery(v) {
		h.listNear(c, v)
		return
	}
	cursor, limit, prefixes, ok := pageParams(c, DefaultDevicesLimit, MaxDevicesLimit)
	if !ok {
		return
	}
	page, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) (devicesPage, error) {
		return h.devicePage(ctx, cursor, limit, prefixes)
	})
	if err != nil {
		h.abortRead(c, "list devices", err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// pageParams reads the cursor and limit (def when absent, 1..max) of a
// paged device listing, and the request key's device-id prefixes; it
// answers 400 and returns false when they do not parse.
func pageParams(c *gin.Context, def, max int) (cursor string, limit int, prefixes []string, ok bool) {
	v, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		abortError(c, http.StatusBadRequest, "the query string does not parse", errorDetail{Message: err.Error()})
		return "", 0, nil, false
	}
	if msg := checkParams(v, "cursor", "limit"); msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return "", 0, nil, false
	}
	cursor = v.Get("cursor") // empty: from the start
	if cursor != "" && point.ValidDeviceID(cursor) != nil {
		abortError(c, http.StatusBadRequest, "cursor must be the next_cursor of a previous page (a device id)")
		return "", 0, nil, false
	}
	limit, msg := parseLimit(v, def, max)
	if msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return "", 0, nil, false
	}
	if k := apiKeyOf(c); k != nil {
		prefixes = k.Prefixes
	}
	return cursor, limit, prefixes, true
}

// parseLimit reads limit= (def when absent, 1..max); it returns the
// message of a 400 when it does not parse.
func parseLimit(v url.Values, def, max int) (int, string) {
	s := v.Get("limit")
	if s == "" {
		return def, ""
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", max, s)
	}
	return n, ""
}

// devicePage reads one page: the next limit+1 ids after cursor of every
// partition's device index (one pipeline), merged in id order, then the
// count and last position of the first limit (a second pipeline). Its
// cost is partitions + limit reads, whatever the number of devices. With
// prefixes, only ids starting with one of them are read: one range per
// prefix and partition.
func (h *handlers) devicePage(ctx context.Context, cursor string, limit int, prefixes []string) (devicesPage, error) {
	ids, next, err := h.deviceIDs(ctx, cursor, limit, prefixes)
	if err != nil {
		return devicesPage{}, err
	}
	items, err := h.deviceItems(ctx, ids)
	if err != nil {
		return devicesPage{}, err
	}
	return devicesPage{Devices: items, NextCursor: next}, nil
}

// deviceItems reads the count and last position of each device of ids, in
// one pipeline.
func (h *handlers) deviceItems(ctx context.Context, ids []string) ([]deviceItem, error) {
	items := make([]deviceItem, 0, len(ids))
	if len(ids) == 0 {
		return items, nil
	}
	pipe := h.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, h.deviceKey(id), agg.FieldCount, agg.FieldLastTime, agg.FieldLastLat, agg.FieldLastLon, agg.FieldLastExtras)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("hmget %d devices: %w", len(ids), err)
	}
	for i, id := range ids {
		vals := cmds[i].Val()
		str := func(j int) string { s, _ := vals[j].(string); return s }
		item, err := newDeviceItem(id, str(0), str(1), str(2), str(3), str(4))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errCorrupt, h.deviceKey(id), err)
		}
		items = append(items, item)
	}
	return items, nil
}

// deviceIDs reads the next limit device ids after cursor, in id order:
// limit+1 ids of every partition's device index (one pipeline), merged.
// next is the last id returned when more follow, else nil. With
// prefixes, only ids starting with one of them: one range per prefix and
// partition.
func (h *handlers) deviceIDs(ctx context.Context, cursor string, limit int, prefixes []string) (ids []string, next *string, err error) {
	pipe := h.rdb.Pipeline()
	var ranges []*redis.StringSliceCmd
	for _, r := range lexRanges(cursor, prefixes) {
		for p := range h.schema.Partitions() {
			ranges = append(ranges, pipe.ZRangeArgs(ctx, redis.ZRangeArgs{
				Key: h.schema.DeviceIndex(p), Start: r[0], Stop: r[1], ByLex: true, Count: int64(limit) + 1,
			}))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("zrange device indexes: %w", err)
	}
	lists := make([][]string, len(ranges))
	for p, r := range ranges {
		lists[p] = r.Val()
	}
	ids = mergeSorted(lists, limit+1)
	if len(ids) > limit {
		ids = ids[:limit]
		last := ids[limit-1]
		next = &last
	}
	return ids, next, nil
}

// lexRanges returns the ZRANGE BYLEX bounds [min, max] of the device ids
// after cursor: everything without prefixes, else one range per prefix.
// Device ids hold ASCII characters only, so prefix+"\xff" is above every
// id that starts with prefix; they never hold '(' or '['.
func lexRanges(cursor string, prefixes []string) [][2]string {
	if len(prefixes) == 0 {
		start := "-"
		if cursor != "" {
			start = "(" + cursor // exclusive
		}
		return [][2]string{{start, "+"}}
	}
	out := make([][2]string, 0, len(prefixes))
	for _, p := range prefixes {
		start := "[" + p
		if cursor != "" && cursor >= p {
			start = "(" + cursor
		}
		out = append(out, [2]string{start, "(" + p + "\xff"})
	}
	return out
}

// deviceKey is the all-time hash of a device, in its partition.
func (h *handlers) deviceKey(id string) string {
	return h.schema.Device(h.schema.PartitionOf(id), id)
}

// newDeviceItem decodes a device's count and last position fields; empty
// strings are missing fields.
func newDeviceItem(id, n, lt, llat, llon, lx string) (deviceItem, error) {
	item := deviceItem{DeviceID: id}
	if n != "" {
		c, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return item, fmt.Errorf("field %s: %w", agg.FieldCount, err)
		}
		item.Count = c
	}
	if lt == "" {
		return item, nil
	}
	var t, lat, lon int64
	for _, f := range [...]struct {
		name, v string
		dst     *int64
	}{{agg.FieldLastTime, lt, &t}, {agg.FieldLastLat, llat, &lat}, {agg.FieldLastLon, llon, &lon}} {
		v, err := strconv.ParseInt(f.v, 10, 64)
		if err != nil {
			return item, fmt.Errorf("field %s: %w", f.name, err)
		}
		*f.dst = v
	}
	ts := agg.FormatTime(t)
	var ex point.Extras
	if err := point.DecodeExtras([]byte(lx), &ex); err != nil {
		return item, fmt.Errorf("field %s: %w", agg.FieldLastExtras, err)
	}
	item.LastPosition = &lastPosition{Latitude: geo.FromFixed(lat), Longitude: geo.FromFixed(lon), Timestamp: ts, extrasJSON: extrasJSONOf(ex)}
	item.LastSeen = &ts
	return item, nil
}

// getDevice handles GET /devices/{id}: the device's last position and its
// all-time summary; 404 for a device with no point counted.
func (h *handlers) getDevice(c *gin.Context) {
	id, v, ok := h.deviceRequest(c)
	if !ok {
		return
	}
	if msg := checkParams(v); msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return
	}
	key := h.deviceKey(id)
	m, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) (map[string]string, error) {
		m, err := h.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, fmt.Errorf("hgetall %s: %w", key, err)
		}
		return m, nil
	})
	if err != nil {
		h.abortRead(c, "get device", err)
		return
	}
	sums, err := agg.FromHash(m)
	var item deviceItem
	if err == nil {
		item, err = newDeviceItem(id, m[agg.FieldCount], m[agg.FieldLastTime], m[agg.FieldLastLat], m[agg.FieldLastLon], m[agg.FieldLastExtras])
	}
	if err != nil {
		h.abortRead(c, "get device", fmt.Errorf("%w: %s: %w", errCorrupt, key, err))
		return
	}
	summary, ok := sums.Summary()
	if !ok {
		abortError(c, http.StatusNotFound, fmt.Sprintf("no point of device %q has been counted; GET /devices lists the known devices", id))
		return
	}
	c.JSON(http.StatusOK, deviceAnswer{deviceItem: item, Summary: summary})
}

// mergeSorted merges sorted lists into their first n distinct elements in
// order. Sorting the concatenation costs about as much as reading the
// lists did (partitions × n ids), so a heap would gain little. An id is in
// one partition's index only, unless points of a device were once counted
// in another partition (the processor logs "entries of devices that belong
// to another partition"), so duplicates are dropped.
func mergeSorted(lists [][]string, n int) []string {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	return all[:min(n, len(all))]
}

// deviceRequest reads a /devices/{id}... request's device id and query,
// answering 400 (a bad id or query) or 403 (a key that may not read the
// device) itself when it returns false.
func (h *handlers) deviceRequest(c *gin.Context) (id string, v url.Values, ok bool) {
	id = c.Param("id")
	if point.ValidDeviceID(id) != nil {
		abortError(c, http.StatusBadRequest, "the device id in the path: "+point.ErrBadDeviceID.Error())
		return "", nil, false
	}
	if !h.allowDevice(c, id, "read") {
		return "", nil, false
	}
	v, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		abortError(c, http.StatusBadRequest, "the query string does not parse", errorDetail{Message: err.Error()})
		return "", nil, false
	}
	return id, v, true
}
