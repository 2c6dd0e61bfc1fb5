package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
)

// Page sizes of GET /positions: a whole fleet of a map in one or a few
// requests, each still bounded (about 50 bytes an entry, one HMGET each,
// pipelined).
const (
	DefaultPositionsLimit = 10000
	MaxPositionsLimit     = 10000
)

// listPositions handles GET /positions?cursor=<last id>&limit=N: the last
// positions of the devices in id order, as compact arrays for a live map
// (the web UI polls it every 1.5 s):
//
//	{"positions": [["truck-1", 52.52, 13.405, 1737633600000], ...], "next_cursor": null}
//
// Each entry is [device_id, latitude, longitude, event time in Unix
// milliseconds]; devices without a last position are left out. Paging,
// cursor and key prefixes are those of GET /devices.
func (h *handlers) listPositions(c *gin.Context) {
	cursor, limit, prefixes, ok := pageParams(c, DefaultPositionsLimit, MaxPositionsLimit)
	if !ok {
		return
	}
	body, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) ([]byte, error) {
		return h.positionsPage(ctx, cursor, limit, prefixes)
	})
	if err != nil {
		h.abortRead(c, "list positions", err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// positionsPage reads the ids of one page (deviceIDs) and their last
// positions (one pipeline of HMGETs) and encodes the answer. It is
// written by hand: encoding/json would box each number of a 10,000-entry
// page in an interface.
func (h *handlers) positionsPage(ctx context.Context, cursor string, limit int, prefixes []string) ([]byte, error) {
	ids, next, err := h.deviceIDs(ctx, cursor, limit, prefixes)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	if len(ids) > 0 {
		pipe := h.rdb.Pipeline()
		for i, id := range ids {
			cmds[i] = pipe.HMGet(ctx, h.deviceKey(id), agg.FieldLastTime, agg.FieldLastLat, agg.FieldLastLon)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("hmget %d devices: %w", len(ids), err)
		}
	}
	b := make([]byte, 0, 64+56*len(ids))
	b = append(b, `{"positions":[`...)
	first := true
	for i, id := range ids {
		vals := cmds[i].Val()
		var f [3]int64
		missing := false
		for j, name := range [...]string{agg.FieldLastTime, agg.FieldLastLat, agg.FieldLastLon} {
			s, _ := vals[j].(string)
			if s == "" {
				missing = true
				break
			}
			if f[j], err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, fmt.Errorf("%w: %s: field %s: %w", errCorrupt, h.deviceKey(id), name, err)
			}
		}
		if missing {
			continue // no last position (a hash removed from Redis), as null in /devices
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '[')
		b = strconv.AppendQuote(b, id) // ids are printable ASCII without quotes or backslashes: valid JSON
		b = append(b, ',')
		b = strconv.AppendFloat(b, geo.FromFixed(f[1]), 'f', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, geo.FromFixed(f[2]), 'f', -1, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, f[0], 10)
		b = append(b, ']')
	}
	b = append(b, `],"next_cursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, *next)
	}
	return append(b, '}'), nil
}
