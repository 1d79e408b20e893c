package identity

import (
	"slices"
	"sync"
	"time"
)

// callerCache keeps, in this process, the Caller that Authenticate last
// resolved for each access token: the token's signature and claims,
// whether its session is revoked (a Redis round trip) and what its user is
// bound to (a database query) would otherwise be checked again on every
// request, and on the mini-program's busiest read (the leaderboard) that
// costs more than the read itself.
//
// Staleness is bounded:
//   - in this process, every change this service makes drops the entries
//     it touches once its transaction has committed: Logout and RevokeAll
//     the sessions', binding (invite, phone, a social worker's
//     confirmation), Unbind, Rebind and staff links the user's. A lookup
//     that raced with such a change is not stored (epoch below).
//   - in another process (API replicas, the console on another host), or
//     for a change made outside this service (a resident moved to another
//     household by the people registry), an entry is used for at most ttl
//     after it was read (Config.CallerTTL, 5 s by default). A logged-out
//     or revoked session is refused everywhere within ttl; an unbound or
//     rebound user acts as their former resident for at most ttl on a
//     replica that had just served them. That is about the time a staff
//     member's click takes to reach the villager's phone, far below the
//     access token's own life (30 minutes, which the deny list in Redis
//     exists to cut short), and unbinding is a rare, deliberate act of a
//     social worker; a deployment that wants no window across replicas
//     sets the TTL negative and pays the lookups on every request.
type callerCache struct {
	ttl time.Duration

	mu sync.Mutex
	// epoch counts forgets: a lookup that began before one is not stored,
	// since it may have read what the forget was about.
	epoch uint64
	// tokens maps an access token, exactly as verified, to its caller: the
	// same bytes verify the same way, so a hit skips the signature check
	// and the claims' decoding too (the expiry is checked on every use).
	tokens map[string]cachedCaller
}

type cachedCaller struct {
	c Caller
	// exp is the token's expiry; at when the caller was read.
	exp, at time.Time
}

// maxCachedCallers bounds the cache; past it the cache starts over (a
// county has ~300,000 residents; entries live seconds).
const maxCachedCallers = 100_000

func newCallerCache(ttl time.Duration) *callerCache {
	return &callerCache{ttl: ttl, tokens: map[string]cachedCaller{}}
}

// get returns the caller of a token read less than ttl before now, if the
// token has not expired, and the epoch to hand to put after a miss.
func (c *callerCache) get(token string, now time.Time) (Caller, bool, uint64) {
	if c.ttl <= 0 {
		return Caller{}, false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[token]
	if ok && now.Sub(e.at) < c.ttl && !now.Before(e.at) && now.Before(e.exp) {
		return e.c, true, c.epoch
	}
	return Caller{}, false, c.epoch
}

// put stores the caller of a verified token expiring at exp, read at `at`,
// unless something was forgotten since the lookup began (epoch).
func (c *callerCache) put(token string, caller Caller, exp, at time.Time, epoch uint64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if len(c.tokens) >= maxCachedCallers {
		clear(c.tokens)
	}
	c.tokens[token] = cachedCaller{c: caller, exp: exp, at: at}
}

// forgetSessions drops the tokens of sessions.
func (c *callerCache) forgetSessions(ids ...int64) {
	c.forget(func(e Caller) bool { return slices.Contains(ids, e.SessionID) })
}

// forgetUsers drops the tokens of every session of the users.
func (c *callerCache) forgetUsers(ids ...int64) {
	c.forget(func(e Caller) bool { return slices.Contains(ids, e.UserID) })
}

func (c *callerCache) forget(match func(Caller) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for tok, e := range c.tokens {
		if match(e.c) {
			delete(c.tokens, tok)
		}
	}
}
