package ranking

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// directory caches what the boards need from the people tables: where a
// village sits (township, county), its residents' households and party
// membership, its households' member counts, and display names. These
// change rarely; a delivery never queries for them (it runs inside the
// relay's transaction, and SQLite has one connection), so the relay loop
// loads them first and reloads them every ttl. A reload that finds the
// mapping changed marks the village for a rebuild, since the boards must
// equal what a rebuild with today's mapping computes.
type directory struct {
	db  *gorm.DB
	ttl time.Duration

	mu       sync.Mutex
	villages map[int64]*villageDir
	names    map[nameKey]nameEntry
}

type villageDir struct {
	geo      geo
	mapping  Mapping
	digest   [32]byte
	loadedAt time.Time
}

type nameKey struct {
	household bool
	id        int64
}

type nameEntry struct {
	name    string
	village int64
	at      time.Time
}

func newDirectory(db *gorm.DB, ttl time.Duration) *directory {
	return &directory{db: db, ttl: ttl, villages: map[int64]*villageDir{}, names: map[nameKey]nameEntry{}}
}

// cached returns a village's cached entry, or nil if it has none.
func (d *directory) cached(village int64) *villageDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.villages[village]
}

// geoOf returns where a village sits, loading it if needed.
func (d *directory) geoOf(ctx context.Context, village int64) (geo, error) {
	if v := d.cached(village); v != nil {
		return v.geo, nil
	}
	v, _, err := d.load(ctx, village)
	if err != nil {
		return geo{}, err
	}
	return v.geo, nil
}

// fresh returns a village's entry, reloading it when older than ttl; changed
// reports that a reload found a different mapping than the one before.
func (d *directory) fresh(ctx context.Context, village int64, now time.Time) (*villageDir, bool, error) {
	if v := d.cached(village); v != nil && now.Sub(v.loadedAt) < d.ttl {
		return v, false, nil
	}
	return d.load(ctx, village)
}

// load reads a village's geo and mapping.
func (d *directory) load(ctx context.Context, village int64) (*villageDir, bool, error) {
	db := d.db.WithContext(ctx)
	v := &villageDir{geo: geo{Village: village}, loadedAt: time.Now()}
	var paths []string
	if err := db.Raw("SELECT path FROM regions WHERE id = ?", village).Scan(&paths).Error; err != nil {
		return nil, false, fmt.Errorf("ranking: read village region: %w", err)
	}
	if len(paths) == 1 {
		ids := parsePath(paths[0])
		if n := len(ids); n >= 3 {
			v.geo.County, v.geo.Township = ids[n-3], ids[n-2]
		}
	}
	var rows []struct {
		ID          int64
		HouseholdID *int64
		PartyMember bool
		Status      string
		Name        string
	}
	if err := db.Raw("SELECT id, household_id, party_member, status, name FROM residents WHERE village_id = ? ORDER BY id", village).
		Scan(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("ranking: read residents: %w", err)
	}
	var hhs []struct {
		ID       int64
		HeadName string
		Number   string
	}
	if err := db.Raw("SELECT id, head_name, number FROM households WHERE village_id = ?", village).Scan(&hhs).Error; err != nil {
		return nil, false, fmt.Errorf("ranking: read households: %w", err)
	}
	v.mapping = Mapping{Residents: make(map[int64]Member, len(rows)), Members: map[int64]int{}}
	h := sha256.New()
	var buf [8]byte
	put := func(n int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	now := time.Now()
	d.mu.Lock()
	for _, r := range rows {
		m := Member{Party: r.PartyMember}
		if r.HouseholdID != nil {
			m.Household = *r.HouseholdID
			if r.Status == "active" {
				v.mapping.Members[m.Household]++
			}
		}
		v.mapping.Residents[r.ID] = m
		put(r.ID)
		put(m.Household)
		if m.Party {
			put(1)
		} else {
			put(0)
		}
		if r.Status == "active" {
			put(1)
		} else {
			put(0)
		}
		d.names[nameKey{id: r.ID}] = nameEntry{name: r.Name, village: village, at: now}
	}
	for _, hh := range hhs {
		d.names[nameKey{household: true, id: hh.ID}] = nameEntry{name: householdName(hh.HeadName, hh.Number), village: village, at: now}
	}
	h.Sum(v.digest[:0])
	old := d.villages[village]
	d.villages[village] = v
	d.mu.Unlock()
	changed := old != nil && (old.digest != v.digest || old.geo != v.geo)
	return v, changed, nil
}

// householdName is how a household is named on a board: its head's name,
// or its number when no head is recorded.
func householdName(head, number string) string {
	if strings.TrimSpace(head) != "" {
		return head
	}
	return number + "号"
}

func parsePath(p string) []int64 {
	var ids []int64
	for s := range strings.SplitSeq(strings.Trim(p, "/"), "/") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	return ids
}

// Names returns the full names of residents (or households) by id; ids
// not found are left out. Cached entries younger than ttl are used as is;
// the rest are read in one query.
func (d *directory) Names(ctx context.Context, household bool, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	var missing []int64
	now := time.Now()
	d.mu.Lock()
	for _, id := range ids {
		if e, ok := d.names[nameKey{household: household, id: id}]; ok && now.Sub(e.at) < d.ttl {
			out[id] = e.name
		} else {
			missing = append(missing, id)
		}
	}
	d.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	var rows []struct {
		ID       int64
		Name     string
		Number   string
		HeadName string
	}
	var err error
	if household {
		err = d.db.WithContext(ctx).Raw("SELECT id, head_name, number FROM households WHERE id IN ?", missing).Scan(&rows).Error
	} else {
		err = d.db.WithContext(ctx).Raw("SELECT id, name FROM residents WHERE id IN ?", missing).Scan(&rows).Error
	}
	if err != nil {
		return nil, fmt.Errorf("ranking: read names: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rows {
		name := r.Name
		if household {
			name = householdName(r.HeadName, r.Number)
		}
		out[r.ID] = name
		d.names[nameKey{household: household, id: r.ID}] = nameEntry{name: name, at: now}
	}
	return out, nil
}

// forget drops a village's cached entry, so the next use reloads it.
func (d *directory) forget(village int64) {
	d.mu.Lock()
	delete(d.villages, village)
	d.mu.Unlock()
}
