package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/geo"
)

// maxNearScan bounds the devices a near or bbox query reads from one
// partition's geo index (GEOSEARCH COUNT), however deep its page.
const maxNearScan = 10 * MaxDevicesLimit

// errNearTooDeep is a near page that maxNearScan devices a partition do not
// reach.
var errNearTooDeep = errors.New("near page too deep")

// isGeoQuery says the request is a near or bbox query of GET /devices.
func isGeoQuery(v url.Values) bool {
	return v.Has("near") || v.Has("bbox") || v.Has("radius")
}

// listNear handles GET /devices?near=LAT,LON&radius=5km and
// GET /devices?bbox=minLon,minLat,maxLon,maxLat: the devices whose last
// position is in the area, nearest the centre first (ties in id order),
// each with its distance; limit and cursor page as in listDevices, and a
// key limited to device-id prefixes sees its devices only.
func (h *handlers) listNear(c *gin.Context, v url.Values) {
	if msg := checkParams(v, "near", "radius", "bbox", "cursor", "limit"); msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return
	}
	q, msg := parseGeoQuery(v)
	if msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return
	}
	var after *nearCursor
	if s := v.Get("cursor"); s != "" {
		cur, ok := parseNearCursor(s)
		if !ok {
			abortError(c, http.StatusBadRequest, "cursor must be the next_cursor of a previous page of the same near or bbox query")
			return
		}
		after = &cur
	}
	limit, msg := parseLimit(v, DefaultDevicesLimit, MaxDevicesLimit)
	if msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return
	}
	var prefixes []string
	if k := apiKeyOf(c); k != nil {
		prefixes = k.Prefixes
	}
	page, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) (devicesPage, error) {
		return h.nearPage(ctx, q, after, limit, prefixes)
	})
	if errors.Is(err, errNearTooDeep) {
		abortError(c, http.StatusBadRequest, fmt.Sprintf("this page lies beyond the %d devices nearest the centre in a partition that a query reads; "+
			"narrow the area (radius or bbox)", maxNearScan))
		return
	}
	if err != nil {
		h.abortRead(c, "list devices near", err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// nearHit is a device in a query's area.
type nearHit struct {
	item deviceItem
	dist float64 // metres from the centre, exact (geo.Distance)
}

// nearPage answers a query from the partitions' geo indexes: GEOSEARCH
// BYRADIUS of every partition (one pipeline) for the circle that covers
// the area, nearest first, COUNT limit+1; then each candidate's last
// position from its hash (a second pipeline), which decides exactly
// whether it is inside and how far (the index holds positions to 0.33 m,
// geo.IndexError). A partition that filled its COUNT may hold nearer
// devices unread: none nearer than its last distance less the slack, so
// the hits below every such bound are certain, and when they are fewer
// than the page needs (a deep page, key prefixes, a box's corners),
// those partitions are read again with 4 times the COUNT, up to
// maxNearScan.
func (h *handlers) nearPage(ctx context.Context, q geoQuery, after *nearCursor, limit int, prefixes []string) (devicesPage, error) {
	page := devicesPage{Devices: []deviceItem{}}
	if q.empty {
		return page, nil
	}
	// GEOSEARCH needs a centre within the index's latitudes: a centre
	// beyond them searches from the nearest one inside, further by as much.
	slat := max(-geo.IndexMaxLat, min(q.lat, geo.IndexMaxLat))
	slack := geo.Distance(q.lat, q.lon, slat, q.lon) + geo.IndexError
	search := redis.GeoSearchQuery{Longitude: q.lon, Latitude: slat, Radius: q.cover + slack, RadiusUnit: "m", Sort: "ASC"}

	todo := make([]int, h.schema.Partitions())
	for p := range todo {
		todo[p] = p
	}
	cut := map[int]float64{} // partitions that filled COUNT → their farthest distance
	seen := map[string]bool{}
	var hits []nearHit
	for count := limit + 1; ; count = min(4*count, maxNearScan) {
		search.Count = count
		ids, err := h.geoSearch(ctx, todo, search, cut, seen, prefixes)
		if err != nil {
			return page, err
		}
		more, err := h.nearHits(ctx, q, after, ids)
		if err != nil {
			return page, err
		}
		hits = append(hits, more...)
		slices.SortFunc(hits, func(a, b nearHit) int {
			return cmp.Or(cmp.Compare(a.dist, b.dist), strings.Compare(a.item.DeviceID, b.item.DeviceID))
		})
		bound := math.Inf(1)
		for _, d := range cut {
			bound = min(bound, d-slack)
		}
		certain, _ := slices.BinarySearchFunc(hits, bound, func(h nearHit, b float64) int { return cmp.Compare(h.dist, b) })
		n := min(limit, certain)
		switch {
		case certain >= limit, len(cut) == 0:
		case count >= maxNearScan && certain > 0:
		case count >= maxNearScan:
			return page, errNearTooDeep
		default:
			todo = todo[:0]
			for p := range cut {
				todo = append(todo, p)
			}
			continue
		}
		for _, hit := range hits[:n] {
			page.Devices = append(page.Devices, hit.item)
		}
		if len(hits) > n || len(cut) > 0 {
			next := nearCursor{dist: hits[n-1].dist, id: hits[n-1].item.DeviceID}.String()
			page.NextCursor = &next
		}
		return page, nil
	}
}

// geoSearch runs search on the geo index of each partition of todo and
// returns the ids not seen before that prefixes allow. It records in cut
// the partitions whose answer filled search.Count, with their farthest
// distance, and removes the others.
func (h *handlers) geoSearch(ctx context.Context, todo []int, search redis.GeoSearchQuery, cut map[int]float64,
	seen map[string]bool, prefixes []string) ([]string, error) {
	pipe := h.rdb.Pipeline()
	cmds := make([]*redis.GeoSearchLocationCmd, len(todo))
	for i, p := range todo {
		cmds[i] = pipe.GeoSearchLocation(ctx, h.schema.Geo(p), &redis.GeoSearchLocationQuery{GeoSearchQuery: search, WithDist: true})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("geosearch %d geo indexes: %w", len(todo), err)
	}
	var ids []string
	for i, p := range todo {
		locs := cmds[i].Val()
		delete(cut, p)
		if len(locs) == search.Count {
			cut[p] = locs[len(locs)-1].Dist
		}
		for _, l := range locs {
			if !seen[l.Name] && hasPrefix(l.Name, prefixes) {
				seen[l.Name] = true
				ids = append(ids, l.Name)
			}
		}
	}
	return ids, nil
}

// nearHits reads the count and last position of each device of ids (one
// pipeline) and returns those inside q after the cursor. A device with no
// last position (its hash removed) is left out.
func (h *handlers) nearHits(ctx context.Context, q geoQuery, after *nearCursor, ids []string) ([]nearHit, error) {
	items, err := h.deviceItems(ctx, ids)
	if err != nil {
		return nil, err
	}
	var hits []nearHit
	for _, item := range items {
		lp := item.LastPosition
		if lp == nil || !q.contains(lp.Latitude, lp.Longitude) {
			continue
		}
		d := geo.Distance(q.lat, q.lon, lp.Latitude, lp.Longitude)
		if after != nil && after.notAfter(d, item.DeviceID) {
			continue
		}
		shown := math.Round(d*1000) / 1000 // to the millimetre
		item.DistanceM = &shown
		hits = append(hits, nearHit{item: item, dist: d})
	}
	return hits, nil
}

// hasPrefix reports whether id starts with one of prefixes, or prefixes is
// empty.
func hasPrefix(id string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}
