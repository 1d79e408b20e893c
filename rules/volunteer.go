package rules

import (
	"math"
	"time"
)

// ServiceMinutes is the volunteer service time 服务时长 one attendance earns:
// the time between check-in and check-out, clipped to the activity window
// [winStart, winEnd), counted per China calendar day and capped at
// dailyCap minutes per day (0 means no cap). Only whole minutes count, so
// points never depend on seconds.
func ServiceMinutes(in, out, winStart, winEnd time.Time, dailyCap int) int {
	if in.Before(winStart) {
		in = winStart
	}
	if out.After(winEnd) {
		out = winEnd
	}
	total := 0
	for in.Before(out) {
		next := Day.End(in)
		end := out
		if next.Before(end) {
			end = next
		}
		m := int(end.Sub(in) / time.Minute)
		if dailyCap > 0 && m > dailyCap {
			m = dailyCap
		}
		total += m
		in = end
	}
	return total
}

// AttendancePoints converts service minutes to points: fixed points for
// any attendance with service time, or perHour points per full hour.
func AttendancePoints(minutes int, perHour, fixed int64) int64 {
	if minutes <= 0 {
		return 0
	}
	if fixed > 0 {
		return fixed
	}
	return int64(minutes) / 60 * perHour
}

// earthRadiusM is the mean Earth radius in metres.
const earthRadiusM = 6371008.8

// DistanceMeters is the great-circle (haversine) distance between two
// WGS-84 points, rounded to whole metres.
func DistanceMeters(lat1, lng1, lat2, lng2 float64) int {
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	dLat, dLng := rad(lat2-lat1), rad(lng2-lng1)
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(lat1))*math.Cos(rad(lat2))*math.Sin(dLng/2)*math.Sin(dLng/2)
	return int(math.Round(2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))))
}

// GPSToleranceM is the slack added to every geofence: phone GPS in a
// village is often 20-50 m off, and a villager standing at the gate must
// not be refused.
const GPSToleranceM = 50

// InsideFence reports whether a scan at (lat, lng) is within radius metres
// of the activity's place, allowing GPSToleranceM and the phone's own
// reported accuracy up to 100 m. It returns the distance to record.
func InsideFence(placeLat, placeLng float64, radiusM int, lat, lng float64, accuracyM int) (distance int, ok bool) {
	distance = DistanceMeters(placeLat, placeLng, lat, lng)
	slack := GPSToleranceM
	if accuracyM > 0 {
		slack += min(accuracyM, 100)
	}
	return distance, distance <= radiusM+slack
}
