// Package store is the points store 积分超市: the rewards a village (or a
// township store shared by its villages) offers for points, their stock,
// redemption orders 兑换单 placed in the mini-program and picked up at the
// counter (verification 核销), counter sales 现场兑换 for a villager standing
// there, refunds, per-month limits, low-stock alerts, monthly reports
// against the village's budget and settlement statements per merchant.
//
// Points never move here: every order runs the ledger's hold, capture,
// release, redeem and reversal inside the store's own transaction (Points),
// so an order and its points commit or roll back together. The order row is
// the request's idempotency anchor; the ledger keys are derived from it. A
// reward may name the point tracks that pay for it (Reward.Tracks, within
// the village's spendable ones); the ledger draws on those only.
//
// The order path is kept short because everything else waits on it: its
// statements are prepared once per connection (sqldb.Statements), and the
// "ready for pickup" message is queued by a ledger consumer off the order's
// hold posting (ReadyNotices), not in the order's transaction.
//
// Every write that races locks rows in one global order: the order row,
// the monthly limit counters (reward, kind, subject), the ledger's rows
// (hold, then the holder's accounts), and last the reward rows (ascending
// id). A reward's row is what every order of it waits for, so it is taken
// by the transaction's last statement before the commit (a conditional
// update that also re-checks shelf, validity, price and tracks); no order holds it
// while the ledger works. Stock and counters change only by conditional
// updates under those locks, so neither goes below zero nor past a limit
// under any concurrency.
package store
