package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/geostream/geostream/streamkit/agg"
)

// NoDataMessage is the API's (and the seed's) error for a /retrieve whose
// scope holds no point.
const NoDataMessage = "No data available for processing"

// ErrNoData is returned by Retrieve when the scope holds no point yet.
var ErrNoData = errors.New("no data available")

// Retrieve GETs /retrieve with query (nil for the global summary) and
// decodes the summary. An empty scope returns ErrNoData. Backpressure and
// network failures are retried like uploads; any other error status is
// returned as an error.
func (c *Client) Retrieve(ctx context.Context, query url.Values) (agg.Summary, error) {
	u := c.base.JoinPath("retrieve")
	u.RawQuery = query.Encode()
	start := c.now()
	for n := 1; ; n++ {
		a := Attempt{Op: "retrieve", N: n}
		ans := c.do(ctx, &a, func(actx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
			if err == nil {
				req.Header.Set("Accept", "application/json")
			}
			return req, err
		})
		switch {
		case ans.err == nil && a.Status == http.StatusOK:
			c.observe(a)
			var s agg.Summary
			if err := json.Unmarshal(ans.body, &s); err != nil {
				return agg.Summary{}, fmt.Errorf("retrieve %s: decode summary: %w", u.RawQuery, err)
			}
			return s, nil
		case ans.err == nil && a.Status == http.StatusBadRequest && isNoData(ans.body):
			c.observe(a)
			return agg.Summary{}, ErrNoData
		case ans.err == nil && !retryable(a.Status):
			c.observe(a)
			return agg.Summary{}, fmt.Errorf("retrieve %s: %s", u.RawQuery, describe(a.Status, ans.body))
		}
		if err := c.retryWait(ctx, &a, n, start, ans.err); err != nil {
			return agg.Summary{}, fmt.Errorf("retrieve %s: %w", u.RawQuery, err)
		}
	}
}

func isNoData(body []byte) bool {
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error == NoDataMessage
}
