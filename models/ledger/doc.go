// Package ledger is the points ledger 积分账本: double-entry postings 流水
// between accounts, cached balances 余额, redemption holds 冻结, reversals
// 冲正, expiry 过期, a per-village hash chain for tamper evidence, and an
// outbox that feeds derived state (the Redis balance cache now, leaderboards
// and notifications later).
//
// Writes are use cases on Store (Award, Deduct, Adjust, Redeem, PlaceHold,
// Capture, Release, Reverse, ExpireHolds, ExpirePoints). Each is one
// transaction (sqldb.InTx) and carries an idempotency key; a refusal rolls
// back everything. An award costs two statements: the posting (which is
// also the request's idempotency record) and the holder's balance row. A
// hold costs three when its first paying track covers it (the conditional
// move from the holder's account to their held account, the hold row, the
// posting); spend.go says how a hold or redemption that names the tracks it
// may draw on is split. The
// fixed statements run prepared once per connection (sqldb.Statements).
//
// What would make every writer wait is kept off the request path:
//   - The hash chain: postings are written unsealed; the Sealer later gives
//     them their place (chain_seq), previous hash and own hash, under a
//     per-village chain-head lock. Verify recomputes it.
//   - The village's system accounts (issued, redeemed, ...), which nearly
//     every posting touches: their balance rows are folded in by the Sealer;
//     reads add the postings it has not sealed yet.
//   - The outbox: the postings themselves, in chain order. Consumers keep a
//     cursor per village; a Relay delivers and moves it.
//
// Pure logic (canonical hashing, expiry lots, spending split, reversal
// shape) lives in hash.go, expiry.go and balance.go and is table-tested.
// The package knows villages, residents and households only by id and
// imports no other models package.
package ledger
