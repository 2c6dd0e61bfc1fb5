package gen

import (
	"math"
	"math/rand/v2"
)

// profile is how a kind of device moves and how noisy its receiver is.
// Speeds are m/s, accelerations m/s², turn rates degrees/s.
type profile struct {
	name               string
	minSpeed, maxSpeed float64
	cruise             float64 // the speed the device drifts back to
	maxAccel           float64 // bound on |Δspeed| per second
	accelSigma         float64 // random acceleration, per √s
	maxTurn            float64 // bound on |turn rate|
	turnSigma          float64 // random change of turn rate, per √s
	noise              float64 // GPS noise σ in metres (truncated at 3σ)
	altitude           float64 // height above the region's ground
	altitudeSigma      float64
	gapProb            float64 // probability that a device falls silent after a fix
}

var (
	walker = profile{name: "walker", minSpeed: 0, maxSpeed: 2.5, cruise: 1.4, maxAccel: 0.5,
		accelSigma: 0.2, maxTurn: 30, turnSigma: 4, noise: 4, altitudeSigma: 1, gapProb: 0.001}
	car = profile{name: "car", minSpeed: 0, maxSpeed: 36, cruise: 14, maxAccel: 3,
		accelSigma: 1, maxTurn: 20, turnSigma: 2, noise: 3, altitudeSigma: 1, gapProb: 0.001}
	ship = profile{name: "ship", minSpeed: 2, maxSpeed: 15, cruise: 9, maxAccel: 0.2,
		accelSigma: 0.05, maxTurn: 2, turnSigma: 0.1, noise: 5, altitudeSigma: 0.5, gapProb: 0.0005}
	aircraft = profile{name: "aircraft", minSpeed: 180, maxSpeed: 260, cruise: 230, maxAccel: 2,
		accelSigma: 0.5, maxTurn: 3, turnSigma: 0.1, noise: 10, altitude: 10_000, altitudeSigma: 5,
		gapProb: 0.0005}
)

// region is where the devices of one kind start and stay: a device that
// strays farther than radius from the centre turns back towards it.
type region struct {
	name     string
	lat, lon float64 // centre, degrees
	radius   float64 // metres
	ground   float64 // altitude of the ground, metres
	profile  profile
	// crossing regions sit on the antimeridian: their devices start a few
	// kilometres from it, heading roughly east or west, so that they cross
	// it soon and then keep crossing it as the leash turns them around.
	crossing bool
}

// regions are assigned to devices in order (device i gets regions[i mod
// len]), so any ten devices cover every case: cities, both antimeridian
// crossings, and three tracks above 80° of latitude.
var regions = []region{
	{name: "berlin", lat: 52.52, lon: 13.405, radius: 15e3, ground: 34, profile: car},
	{name: "fiji-antimeridian", lat: -16.8, lon: 180, radius: 20e3, profile: ship, crossing: true},
	{name: "arctic-ocean", lat: 84, lon: 30, radius: 60e3, profile: ship},
	{name: "new-york", lat: 40.7128, lon: -74.006, radius: 20e3, ground: 10, profile: car},
	{name: "bering-antimeridian", lat: 65.9, lon: 180, radius: 150e3, profile: aircraft, crossing: true},
	{name: "south-pole", lat: -89.95, lon: 0, radius: 4e3, ground: 2835, profile: walker},
	{name: "tokyo", lat: 35.6762, lon: 139.6503, radius: 8e3, ground: 40, profile: walker},
	{name: "sao-paulo", lat: -23.5505, lon: -46.6333, radius: 20e3, ground: 760, profile: car},
	{name: "north-pole-flight", lat: 87.5, lon: -60, radius: 250e3, profile: aircraft},
	{name: "sydney", lat: -33.8688, lon: 151.2093, radius: 10e3, ground: 58, profile: walker},
}

// track is the true state of one moving device. Positions and the heading
// are radians; the turn rate is degrees/s.
type track struct {
	reg      *region
	lat, lon float64
	speed    float64
	heading  float64
	turn     float64
	altitude float64
}

// newTrack places a device in its region.
func newTrack(reg *region, rng *rand.Rand) track {
	t := track{reg: reg, speed: reg.profile.cruise * (0.7 + 0.3*rng.Float64())}
	t.speed = max(reg.profile.minSpeed, t.speed)
	clat, clon := reg.lat*deg, reg.lon*deg
	if reg.crossing {
		east := rng.IntN(2) == 0
		t.heading = math.Pi / 2
		if !east {
			t.heading = 3 * math.Pi / 2
		}
		// Start behind the meridian, at most 15% of the radius away, so
		// the first crossing comes within minutes.
		back := t.heading + math.Pi
		t.lat, t.lon, _ = destination(clat, clon, back, reg.radius*0.15*rng.Float64())
		t.heading += (rng.Float64() - 0.5) * 40 * deg
	} else {
		d := reg.radius * 0.5 * math.Sqrt(rng.Float64())
		t.lat, t.lon, _ = destination(clat, clon, rng.Float64()*2*math.Pi, d)
		t.heading = rng.Float64() * 2 * math.Pi
	}
	t.altitude = reg.ground + reg.profile.altitude
	return t
}

// advance moves the track on by dt seconds, in steps of at most a second so
// that the random processes stay stable for any fix interval.
func (t *track) advance(dt float64, rng *rand.Rand) {
	for dt > 0 {
		h := min(dt, 1)
		t.step(h, rng)
		dt -= h
	}
}

func (t *track) step(h float64, rng *rand.Rand) {
	p := &t.reg.profile
	sq := math.Sqrt(h)

	// Speed: pulled back to cruise, random acceleration, bounded.
	dv := 0.1*(p.cruise-t.speed)*h + p.accelSigma*sq*rng.NormFloat64()
	dv = max(-p.maxAccel*h, min(p.maxAccel*h, dv))
	t.speed = max(p.minSpeed, min(p.maxSpeed, t.speed+dv))

	// Turn rate: a random walk pulled towards the leash's wish.
	want := 0.0
	clat, clon := t.reg.lat*deg, t.reg.lon*deg
	if distance(t.lat, t.lon, clat, clon) > t.reg.radius {
		diff := angleDiff(t.heading, initialBearing(t.lat, t.lon, clat, clon)) * rad
		want = max(-p.maxTurn/2, min(p.maxTurn/2, diff))
	}
	t.turn += 0.2*(want-t.turn)*h + p.turnSigma*sq*rng.NormFloat64()
	t.turn = max(-p.maxTurn, min(p.maxTurn, t.turn))
	heading := t.heading + t.turn*deg*h

	var final float64
	t.lat, t.lon, final = destination(t.lat, t.lon, heading, t.speed*h)
	if t.speed > 0 {
		t.heading = final
	} else {
		t.heading = math.Mod(heading+2*math.Pi, 2*math.Pi)
	}

	ground := t.reg.ground + p.altitude
	t.altitude += 0.05*(ground-t.altitude)*h + p.altitudeSigma*0.2*sq*rng.NormFloat64()
}

// observe returns the position a receiver reports for the track: the true
// position moved by GPS noise in a random direction (Rayleigh-distributed
// distance, truncated at 3σ), and the accuracy it claims.
func (t *track) observe(rng *rand.Rand) (lat, lon, accuracy float64) {
	sigma := t.reg.profile.noise
	r := sigma * math.Sqrt(-2*math.Log(1-rng.Float64()))
	r = min(r, 3*sigma)
	lat, lon, _ = destination(t.lat, t.lon, rng.Float64()*2*math.Pi, r)
	return lat, lon, sigma * (0.8 + 0.4*rng.Float64())
}
