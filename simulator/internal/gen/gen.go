// Package gen generates the positions simulated devices report: realistic
// tracks (moving smoothly, with GPS noise and occasional silences, some
// crossing the antimeridian and some near the poles) or the seed prototype's
// uniform random points.
//
// Generation is reproducible: the same Config gives the same points in the
// same order. Every device has its own random source, derived from the seed
// and its index, and points come out in event-time order (a device's next
// fix is scheduled when it reports), so the data does not depend on how
// fast or how concurrently it is sent.
//
// Coordinates are produced directly in fixed point (point.Point, 1e-7
// degrees, milliseconds), so what the simulator sends is exactly what the
// server stores and what the verifier sums.
package gen

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// Mode selects how positions are generated.
type Mode string

const (
	// ModeTracks moves every device along a smooth, noisy track in one of
	// several regions.
	ModeTracks Mode = "tracks"
	// ModeUniform draws every position uniformly from latitude −90..90 and
	// longitude −180..180, like the seed prototype's generator.
	ModeUniform Mode = "uniform"
)

const (
	// DefaultDevices is the number of devices when Config.Devices is 0.
	DefaultDevices = 10
	// DefaultInterval is a device's time between fixes when
	// Config.Interval is 0.
	DefaultInterval = time.Second
	// DefaultDevicePrefix starts device ids when Config.DevicePrefix is "".
	DefaultDevicePrefix = "sim-"
)

// Config describes the data set to generate.
type Config struct {
	// Devices is the number of simulated devices; default DefaultDevices.
	Devices int
	// Seed selects the data set: the same seed and settings give the same
	// points.
	Seed uint64
	// Mode is ModeTracks (default) or ModeUniform.
	Mode Mode
	// DevicePrefix starts every device id: ids are the prefix and the
	// device's number from 1, zero-padded to at least four digits
	// ("sim-0001"); default DefaultDevicePrefix.
	DevicePrefix string
	// Start is the earliest event time of the first fixes (each device
	// starts within one interval of it).
	Start time.Time
	// Interval is each device's nominal time between fixes (±10% jitter);
	// default DefaultInterval.
	Interval time.Duration
	// NotAfter, when set, caps every timestamp at the time it returns. Live
	// runs use it so that load outrunning the event clock never produces
	// timestamps in the future, which the server would refuse.
	NotAfter func() time.Time
}

func (c *Config) setDefaults() {
	if c.Devices == 0 {
		c.Devices = DefaultDevices
	}
	if c.Mode == "" {
		c.Mode = ModeTracks
	}
	if c.DevicePrefix == "" {
		c.DevicePrefix = DefaultDevicePrefix
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
}

// Validate reports a configuration that cannot generate valid points.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Devices < 1 {
		errs = append(errs, fmt.Errorf("devices must be at least 1, got %d", c.Devices))
	}
	if c.Mode != ModeTracks && c.Mode != ModeUniform {
		errs = append(errs, fmt.Errorf("mode %q: want %s or %s", c.Mode, ModeTracks, ModeUniform))
	}
	if c.Interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("interval must be at least 1ms, got %v", c.Interval))
	}
	if c.Devices >= 1 {
		if err := point.ValidDeviceID(DeviceID(c.DevicePrefix, c.Devices-1, c.Devices)); err != nil {
			errs = append(errs, fmt.Errorf("device-prefix %q: %w", c.DevicePrefix, err))
		}
	}
	return errors.Join(errs...)
}

// DeviceID returns the id of device i (from 0) of n: prefix and i+1,
// zero-padded to at least four digits and to the width of n.
func DeviceID(prefix string, i, n int) string {
	width := max(4, len(fmt.Sprint(n)))
	return fmt.Sprintf("%s%0*d", prefix, width, i+1)
}

// Generator produces the points of a Config in event-time order. It is not
// safe for concurrent use.
type Generator struct {
	cfg      Config
	interval int64 // ms
	devices  []*device
	queue    deviceQueue
}

type device struct {
	id    string
	index int
	rng   *rand.Rand
	next  int64 // event time of the next fix, Unix ms
	track track // ModeTracks only
}

// New returns a generator for cfg, which must be valid.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	g := &Generator{cfg: cfg, interval: max(1, cfg.Interval.Milliseconds())}
	start := cfg.Start.UnixMilli()
	for i := range cfg.Devices {
		// Each device draws from its own stream, so device i's data is the
		// same whatever the number of devices.
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15^uint64(i)))
		d := &device{id: DeviceID(cfg.DevicePrefix, i, cfg.Devices), index: i, rng: rng}
		d.next = start + rng.Int64N(g.interval)
		if cfg.Mode == ModeTracks {
			d.track = newTrack(&regions[i%len(regions)], rng)
		}
		g.devices = append(g.devices, d)
	}
	g.queue = append(deviceQueue(nil), g.devices...)
	heap.Init(&g.queue)
	return g, nil
}

// DeviceIDs returns the id of every device, in index order.
func (g *Generator) DeviceIDs() []string {
	ids := make([]string, len(g.devices))
	for i, d := range g.devices {
		ids[i] = d.id
	}
	return ids
}

// Next returns the next point: the earliest scheduled fix of any device.
func (g *Generator) Next() point.Point {
	d := g.queue[0]
	t := d.next
	if g.cfg.NotAfter != nil {
		t = min(t, g.cfg.NotAfter().UnixMilli())
	}
	p := point.Point{DeviceID: d.id, TimeMs: t}
	if g.cfg.Mode == ModeUniform {
		p.LatE7 = d.rng.Int64N(180*geo.DegreeScale+1) - 90*geo.DegreeScale
		p.LonE7 = d.rng.Int64N(360*geo.DegreeScale+1) - 180*geo.DegreeScale
		d.next += g.jitter(d)
	} else {
		g.fix(d, &p)
	}
	heap.Fix(&g.queue, 0)
	return p
}

// fix fills p from d's track and schedules d's next fix, possibly after a
// silence.
func (g *Generator) fix(d *device, p *point.Point) {
	tr := &d.track
	lat, lon, acc := tr.observe(d.rng)
	p.LatE7 = geo.ToFixed(max(-90, min(90, lat*rad)))
	p.LonE7 = geo.ToFixed(lon * rad)
	speed := round(tr.speed, 100)
	heading := round(math.Mod(tr.heading*rad+360, 360), 10)
	if heading >= 360 {
		heading = 0
	}
	alt := round(tr.altitude, 10)
	acc = round(acc, 10)
	p.Extras = point.Extras{Altitude: &alt, Speed: &speed, Heading: &heading, Accuracy: &acc}

	dt := g.jitter(d)
	if d.rng.Float64() < tr.reg.profile.gapProb {
		// A silence: tunnel, dead battery, no coverage. The device keeps
		// moving, it just does not report for 10 to 120 intervals.
		dt += g.interval * (10 + d.rng.Int64N(111))
	}
	d.next += dt
	tr.advance(float64(dt)/1000, d.rng)
}

// jitter returns one interval ±10%, at least 1 ms.
func (g *Generator) jitter(d *device) int64 {
	j := float64(g.interval) * 0.2 * (d.rng.Float64() - 0.5)
	return max(1, g.interval+int64(math.Round(j)))
}

func round(v, scale float64) float64 { return math.Round(v*scale) / scale }

// deviceQueue orders devices by their next fix time, then by index, so the
// order is total and reproducible.
type deviceQueue []*device

func (q deviceQueue) Len() int { return len(q) }
func (q deviceQueue) Less(i, j int) bool {
	if q[i].next != q[j].next {
		return q[i].next < q[j].next
	}
	return q[i].index < q[j].index
}
func (q deviceQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *deviceQueue) Push(x any)   { *q = append(*q, x.(*device)) }
func (q *deviceQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}
