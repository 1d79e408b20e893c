package ranking

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/rules"
)

// Standing is one member's place on a board.
type Standing struct {
	Rank     int64  `json:"rank"`
	MemberID int64  `json:"member_id"`
	Name     string `json:"name"`
	// Points on the board; on points-per-member boards in PerMemberScale
	// units (1234 is 12.34 per member), see PerMemberText.
	Points int64 `json:"points"`
	// PerMemberText is the per-member value as a decimal ("12.34"), on
	// points-per-member boards only.
	PerMemberText string `json:"points_per_member,omitempty"`
}

// MyStanding is the caller's place: rank, points, the points missing to
// the next better rank (0 at rank 1) and the neighbours around them.
type MyStanding struct {
	MemberID   int64      `json:"member_id"`
	Ranked     bool       `json:"ranked"`
	Rank       int64      `json:"rank,omitempty"`
	Points     int64      `json:"points"`
	Gap        int64      `json:"gap_to_next_rank"`
	Neighbours []Standing `json:"neighbours"`
}

// BoardPage is one page of a board, best first.
type BoardPage struct {
	Subject Subject      `json:"subject"`
	Scope   ScopeKind    `json:"scope"`
	ScopeID int64        `json:"scope_id"`
	Period  rules.Period `json:"period"`
	Key     string       `json:"period_key"`
	Track   ledger.Track `json:"track"`
	// Total is how many members the board ranks.
	Total   int64       `json:"total"`
	Entries []Standing  `json:"entries"`
	Me      *MyStanding `json:"me,omitempty"`
	// entriesJSON is Entries already encoded, for pages from the cache.
	entriesJSON []byte
}

// MarshalJSON encodes the page, as AppendJSON.
func (p BoardPage) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil) }

// AppendJSON appends the page's JSON encoding (what encoding/json makes of
// its fields) to b, reusing the cached encoding of its entries: the page
// every villager of a village asks for is encoded once per PageTTL, not
// once per request, and the rest is written by hand (no reflection), since
// this is the mini-program's busiest read.
func (p BoardPage) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"subject":`...)
	b = strconv.AppendQuote(b, string(p.Subject))
	b = append(b, `,"scope":`...)
	b = strconv.AppendQuote(b, string(p.Scope))
	b = append(b, `,"scope_id":`...)
	b = strconv.AppendInt(b, p.ScopeID, 10)
	b = append(b, `,"period":`...)
	b = strconv.AppendQuote(b, string(p.Period))
	b = append(b, `,"period_key":`...)
	b = appendJSONString(b, p.Key)
	b = append(b, `,"track":`...)
	b = strconv.AppendQuote(b, string(p.Track))
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, p.Total, 10)
	b = append(b, `,"entries":`...)
	if p.entriesJSON != nil {
		b = append(b, p.entriesJSON...)
	} else {
		b = appendStandings(b, p.Entries)
	}
	if m := p.Me; m != nil {
		b = append(b, `,"me":{"member_id":`...)
		b = strconv.AppendInt(b, m.MemberID, 10)
		b = append(b, `,"ranked":`...)
		b = strconv.AppendBool(b, m.Ranked)
		if m.Rank != 0 {
			b = append(b, `,"rank":`...)
			b = strconv.AppendInt(b, m.Rank, 10)
		}
		b = append(b, `,"points":`...)
		b = strconv.AppendInt(b, m.Points, 10)
		b = append(b, `,"gap_to_next_rank":`...)
		b = strconv.AppendInt(b, m.Gap, 10)
		b = append(b, `,"neighbours":`...)
		b = appendStandings(b, m.Neighbours)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendStandings appends the JSON array of standings (never null).
func appendStandings(b []byte, list []Standing) []byte {
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"rank":`...)
		b = strconv.AppendInt(b, e.Rank, 10)
		b = append(b, `,"member_id":`...)
		b = strconv.AppendInt(b, e.MemberID, 10)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, e.Name)
		b = append(b, `,"points":`...)
		b = strconv.AppendInt(b, e.Points, 10)
		if e.PerMemberText != "" {
			b = append(b, `,"points_per_member":`...)
			b = appendJSONString(b, e.PerMemberText)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString appends s as encoding/json encodes a string: quotes,
// backslashes and control characters escaped, and, as encoding/json does
// by default, <, >, &, U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Viewer says who reads: villagers see masked names, staff full ones.
type Viewer int

// The viewers.
const (
	Villager Viewer = iota
	Staff
)

// ReadRequest asks for one page of a board and, if Me is set, the standing
// of that member with Around neighbours on each side.
type ReadRequest struct {
	Board  Board
	Offset int
	Limit  int
	Me     int64
	Around int
	Viewer Viewer
}

// readScript returns, in one consistent view of a board: its size, one
// page (member, score pairs), the number of members with more points than
// the page's first, and when ARGV[3] names a member: its score, its
// position, the first position of its neighbourhood, the neighbourhood,
// the number with more points than the first neighbour, and the lowest
// score with more points than the member (the next rank up).
var readScript = redis.NewScript(`
local key = KEYS[1]
local off, lim, me, k = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local SPAN = 67108864
local function above(score)
  local p = math.floor(tonumber(score) / SPAN)
  return redis.call('ZCOUNT', key, (p + 1) * SPAN, '+inf')
end
local card = redis.call('ZCARD', key)
local top = {}
if lim > 0 then top = redis.call('ZREVRANGE', key, off, off + lim - 1, 'WITHSCORES') end
local topAbove = 0
if #top > 0 then topAbove = above(top[2]) end
if me == '' then return {card, top, topAbove} end
local s = redis.call('ZSCORE', key, me)
if not s then return {card, top, topAbove} end
local r = redis.call('ZREVRANK', key, me)
local lo = r - k
if lo < 0 then lo = 0 end
local nb = redis.call('ZREVRANGE', key, lo, r + k, 'WITHSCORES')
local p = math.floor(tonumber(s) / SPAN)
local nxt = redis.call('ZRANGEBYSCORE', key, (p + 1) * SPAN, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local n = ''
if #nxt > 0 then n = nxt[2] end
return {card, top, topAbove, s, r, lo, nb, above(nb[2]), n}
`)

// Read returns one page of a board and optionally the standing of one
// member, in one round trip to Redis and one consistent view.
func (s *Service) Read(ctx context.Context, r ReadRequest) (BoardPage, error) {
	if err := r.Board.Validate(); err != nil {
		return BoardPage{}, err
	}
	if r.Offset < 0 || r.Limit < 0 || r.Limit > 100 || r.Around < 0 || r.Around > 10 {
		return BoardPage{}, apperr.Invalid("page_size", "每页最多 100 名，前后各最多 10 名")
	}
	b := r.Board
	me := ""
	if r.Me > 0 {
		me = memberString(r.Me)
	}
	key := s.keys.board(b)
	ck := pageKey{key: key, offset: r.Offset, limit: r.Limit, viewer: r.Viewer}
	cached, hit := s.pages.get(ck, time.Now())
	limit := r.Limit
	if hit {
		limit = 0 // the page is cached: ask Redis for the caller's standing only
	}
	page := BoardPage{Subject: b.Subject, Scope: b.Scope, ScopeID: b.ScopeID, Period: b.Period, Key: b.Key, Track: b.Track}
	var mine []any
	if hit {
		page.Total, page.Entries, page.entriesJSON = cached.total, cached.entries, cached.json
		if r.Me > 0 {
			res, err := s.standing(ctx, b.County, key, me, r.Around)
			if err != nil {
				return page, err
			}
			mine = res[1:]
		}
	} else {
		res, err := readScript.Run(ctx, s.kv, []string{key}, r.Offset, limit, me, r.Around).Slice()
		if err != nil {
			return BoardPage{}, fmt.Errorf("ranking: read board: %w", err)
		}
		page.Total, _ = res[0].(int64)
		if page.Entries, err = standings(res[1], r.Offset, res[2]); err != nil {
			return page, err
		}
		mine = res[3:]
	}
	if r.Me > 0 {
		my := &MyStanding{MemberID: r.Me, Neighbours: []Standing{}}
		if len(mine) == 6 {
			my.Ranked = true
			my.Points, _ = Unpack(parseScore(mine[0]))
			lo, _ := mine[2].(int64)
			var err error
			if my.Neighbours, err = standings(mine[3], int(lo), mine[4]); err != nil {
				return page, err
			}
			for _, n := range my.Neighbours {
				if n.MemberID == r.Me {
					my.Rank = n.Rank
				}
			}
			if next, ok := mine[5].(string); ok && next != "" {
				np, _ := Unpack(parseScore(next))
				my.Gap = np - my.Points
			}
		}
		page.Me = my
	}
	if err := s.name(ctx, b.Subject, r.Viewer, &page, !hit); err != nil {
		return page, err
	}
	if !hit && r.Limit > 0 && s.pages.ttl > 0 {
		raw := appendStandings(nil, page.Entries)
		s.pages.put(ck, pageEntry{total: page.Total, entries: page.Entries, json: raw, at: time.Now()})
	}
	return page, nil
}

// pageCache keeps recently read pages of boards for a short time: the top
// of a board is what every villager of a village asks for, so one read of
// Redis serves them all for PageTTL (the boards trail the ledger by the
// relay's interval anyway). The caller's own standing is always read
// fresh.
type pageCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[pageKey]pageEntry
}

type pageKey struct {
	key           string
	offset, limit int
	viewer        Viewer
}

type pageEntry struct {
	total   int64
	entries []Standing
	json    []byte
	at      time.Time
}

func (c *pageCache) get(k pageKey, now time.Time) (pageEntry, bool) {
	if c.ttl <= 0 || k.limit == 0 {
		return pageEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok && now.Sub(e.at) < c.ttl
}

func (c *pageCache) put(k pageKey, e pageEntry) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10_000 {
		clear(c.m)
	}
	c.m[k] = e
}

func parseScore(v any) float64 {
	s, _ := v.(string)
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// standings turns a (member, score) list at offset into ranked standings.
func standings(list any, offset int, above any) ([]Standing, error) {
	items, _ := list.([]any)
	out := make([]Standing, 0, len(items)/2)
	pts := make([]int64, 0, len(items)/2)
	for i := 0; i+1 < len(items); i += 2 {
		ms, _ := items[i].(string)
		id, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ranking: bad board member %q", ms)
		}
		p, _ := Unpack(parseScore(items[i+1]))
		out = append(out, Standing{MemberID: id, Points: p})
		pts = append(pts, p)
	}
	a, _ := above.(int64)
	for i, rk := range Ranks(offset, a, pts) {
		out[i].Rank = rk
	}
	return out, nil
}

// name fills in display names (masked for villagers) and per-member text.
func (s *Service) name(ctx context.Context, sub Subject, v Viewer, page *BoardPage, entries bool) error {
	var ids []int64
	var all [][]Standing
	if entries {
		all = append(all, page.Entries)
	}
	if page.Me != nil {
		all = append(all, page.Me.Neighbours)
	}
	for _, list := range all {
		for _, e := range list {
			ids = append(ids, e.MemberID)
		}
	}
	names, err := s.dir.Names(ctx, sub.household(), ids)
	if err != nil {
		return err
	}
	for _, list := range all {
		for i := range list {
			list[i].Name = DisplayName(names[list[i].MemberID], sub, v)
			if sub == SubjectHouseholdPerMember {
				list[i].PerMemberText = PerMemberText(list[i].Points)
			}
		}
	}
	return nil
}

// DisplayName is how a member is named to a viewer: villagers see names
// masked (张*三; a household as its head's masked name and 户), staff the
// full name.
func DisplayName(name string, sub Subject, v Viewer) string {
	if v == Villager {
		name = pii.MaskName(name)
	}
	if sub.household() && name != "" && !strings.HasSuffix(name, "号") {
		name += "户"
	}
	return name
}

// PerMemberText renders a value in PerMemberScale units as a decimal.
func PerMemberText(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/PerMemberScale, v%PerMemberScale)
}

// VillageBoard addresses a board of the region of the given scope that
// contains a village: its own, its township's or its county's. An empty
// key means the period containing now.
func (s *Service) VillageBoard(ctx context.Context, village int64, sub Subject, scope ScopeKind, period rules.Period, key string, track ledger.Track) (Board, error) {
	g, err := s.dir.geoOf(ctx, village)
	if err != nil {
		return Board{}, err
	}
	return s.board(g, sub, scope, period, key, track)
}

func (s *Service) board(g geo, sub Subject, scope ScopeKind, period rules.Period, key string, track ledger.Track) (Board, error) {
	b := Board{Subject: sub, Scope: scope, ScopeID: g.scopeID(scope), County: g.County, Period: period, Key: key, Track: track}
	if err := b.Validate(); err != nil {
		return b, err
	}
	if b.Key == "" {
		b.Key = period.Key(s.now())
	}
	if _, err := periodStart(period, b.Key); err != nil {
		return b, err
	}
	return b, nil
}

// RegionBoard addresses the board of a township or county (or village)
// by region id.
func (s *Service) RegionBoard(ctx context.Context, regionID int64, sub Subject, period rules.Period, key string, track ledger.Track) (Board, error) {
	var regs []struct {
		Level string
		Path  string
	}
	if err := s.db.WithContext(ctx).Raw("SELECT level, path FROM regions WHERE id = ?", regionID).Scan(&regs).Error; err != nil {
		return Board{}, err
	}
	if len(regs) == 0 {
		return Board{}, apperr.NotFound("区域")
	}
	ids := parsePath(regs[0].Path)
	g := geo{County: ids[0]}
	var scope ScopeKind
	switch regs[0].Level {
	case "county":
		scope = ScopeCounty
	case "township":
		scope, g.Township = ScopeTownship, regionID
	case "village":
		scope, g.Village = ScopeVillage, regionID
	default:
		return Board{}, apperr.Invalid("region_id", "排行榜只按村、乡镇或县划分")
	}
	return s.board(g, sub, scope, period, key, track)
}
