package ingest

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// trackPoint is a track point of format=ndjson and the properties of a
// GeoJSON Point feature.
type trackPoint struct {
	DeviceID  string   `json:"device_id,omitempty"`
	Timestamp string   `json:"timestamp"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	extrasJSON
}

// writeTrack writes pts, a device's track page, in format.
func writeTrack(c *gin.Context, id, format string, pts []point.Point) {
	types := map[string]string{
		"geojson": "application/geo+json", "linestring": "application/geo+json",
		"gpx": "application/gpx+xml", "ndjson": "application/x-ndjson",
	}
	c.Header("Content-Type", types[format])
	c.Status(http.StatusOK)
	w := bufio.NewWriterSize(c.Writer, 64<<10)
	defer w.Flush()
	switch format {
	case "geojson":
		w.WriteString(`{"type":"FeatureCollection","features":[`)
		for i := range pts {
			if i > 0 {
				w.WriteByte(',')
			}
			p := &pts[i]
			w.WriteString(`{"type":"Feature","geometry":{"type":"Point","coordinates":[`)
			w.WriteString(coord(p.LonE7) + "," + coord(p.LatE7) + `]},"properties":`)
			b, _ := json.Marshal(trackPoint{Timestamp: agg.FormatTime(p.TimeMs), extrasJSON: extrasJSONOf(p.Extras)})
			w.Write(b)
			w.WriteByte('}')
		}
		w.WriteString("]}\n")
	case "linestring":
		// A LineString needs two positions: fewer give a null geometry.
		w.WriteString(`{"type":"Feature","geometry":`)
		if len(pts) < 2 {
			w.WriteString("null")
		} else {
			w.WriteString(`{"type":"LineString","coordinates":[`)
			for i := range pts {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString("[" + coord(pts[i].LonE7) + "," + coord(pts[i].LatE7) + "]")
			}
			w.WriteString("]}")
		}
		w.WriteString(`,"properties":{"device_id":` + strconv.Quote(id) + `,"times":[`)
		for i := range pts {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(`"` + agg.FormatTime(pts[i].TimeMs) + `"`)
		}
		w.WriteString("]}}\n")
	case "gpx":
		w.WriteString(xml.Header)
		w.WriteString(`<gpx version="1.1" creator="geostream" xmlns="http://www.topografix.com/GPX/1/1">` + "\n<trk><name>")
		xml.EscapeText(w, []byte(id))
		w.WriteString("</name><trkseg>\n")
		for i := range pts {
			p := &pts[i]
			w.WriteString(`<trkpt lat="` + coord(p.LatE7) + `" lon="` + coord(p.LonE7) + `">`)
			if p.Extras.Altitude != nil {
				w.WriteString("<ele>" + strconv.FormatFloat(*p.Extras.Altitude, 'f', -1, 64) + "</ele>")
			}
			w.WriteString("<time>" + agg.FormatTime(p.TimeMs) + "</time></trkpt>\n")
		}
		w.WriteString("</trkseg></trk>\n</gpx>\n")
	case "ndjson":
		for i := range pts {
			p := &pts[i]
			lat, lon := geo.FromFixed(p.LatE7), geo.FromFixed(p.LonE7)
			b, _ := json.Marshal(trackPoint{DeviceID: id, Timestamp: agg.FormatTime(p.TimeMs), Latitude: &lat, Longitude: &lon, extrasJSON: extrasJSONOf(p.Extras)})
			w.Write(b)
			w.WriteByte('\n')
		}
	}
}

func coord(v int64) string {
	return strconv.FormatFloat(geo.FromFixed(v), 'f', -1, 64)
}
