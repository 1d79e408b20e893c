// Package ranking is the leaderboards 排行榜 and the monthly ranking 月度排名
// that committees publish.
//
// # Leaderboards
//
// Boards are Redis sorted sets, one per subject × scope × period × track:
//
//   - subject: resident 村民, household 户 (by total, and again by points per
//     active member, so each village's setting can pick one without a
//     rebuild), party member 党员;
//   - scope: the village, its township, its county;
//   - period: month, quarter, year (China time, rules.Period) and all time;
//   - track: civic, party, volunteer, and the total.
//
// They are derived from the ledger: Service is a ledger outbox Consumer fed
// in chain order (its relay loop wraps ledger.Relay). What counts is what a
// holder earned: postings between a holder's own account and the village's
// issued, deducted or adjustments account. Deductions, negative adjustments
// and reversals of awards lower the score; redemptions, holds and expiry do
// not touch it. A reversal counts in the period of the posting it reverses
// (see Effect), so a correction lands in the month it corrects.
//
// # Scores
//
// A member's score packs points and a tie-break clock into one float64,
// exact below 2^53: points × 2^26 + (2^26 − 1 − tick), where tick is when
// the member reached those points (seconds into the period; minutes since
// 2020 on all-time boards). Points are therefore bounded by MaxPoints
// (±134,217,727 per member and board). Ranks are standard competition
// ranks computed from points alone (1, 2, 2, 4); inside a tie, whoever got
// there first comes first, and since ticks come from the postings' own
// times, a rebuild orders ties identically.
//
// # Keys
//
// Every key is built with kv.Client.Key (deployment prefix) and carries its
// county as a Redis Cluster hash tag, so one county is one slot and every
// script (a posting touches the village's, the township's and the county's
// boards at once) runs on one node without code changes:
//
//	{prefix}:rank:{c<county>}:b:<res|hh|hpm|pty>:<v|t|c><region id>:<period key>:<track>
//	    e.g. jifen:rank:{c1}:b:res:v42:2026-03:civic — members are ids, scores as above
//	{prefix}:rank:{c<county>}:applied        hash: village → last chain_seq applied
//	{prefix}:rank:{c<county>}:veto:<village> set: r:<resident>:<period key>, h:<household>:<period key>
//	{prefix}:rank:{c<county>}:pause          exists while a rebuild of the county runs
//	{prefix}:rank:{c<county>}:tmp:<token>:…  boards being rebuilt (expire within the hour)
//
// A board of a month, quarter or year expires (EXPIREAT) a week after the
// following period ends, so the current and the previous period can always
// be read; published monthly rankings live in SQL. All-time boards stay.
// The deployment prefix must not contain braces.
//
// Memory, measured by scripts/bench/ranking on a generated county (300
// villages, 300,000 residents in 100,000 households, 10% party members,
// 3,000,000 postings spread over the last 12 months, so 2 months, 2
// quarters, 2 years and all time are live): 24.0 million entries in 35,936
// keys, 2.36 GiB, i.e. about 80 entries and 8 KiB per resident, 788 MiB per
// 100,000 residents (103 bytes per entry: Redis skiplist sorted sets). A
// deployment short of memory can raise zset-max-listpack-entries to about
// 1,100 so every village-scope board (a third of the entries) is packed:
// measured 542 MiB per 100,000 residents (71 bytes per entry).
//
// # Delivery and rebuild
//
// A delivery applies each event once: a Lua script keeps the last applied
// chain_seq per village and refuses a gap (the state was lost: the relay
// loop rebuilds the village). It never queries the database (it runs in the
// relay's transaction, and SQLite has one connection): households, party
// membership and member counts come from a cache the loop fills first, and
// a reload that finds them changed rebuilds the village, because the boards
// must equal what a rebuild with today's people computes.
//
// A rebuild (RebuildRegion: a village, township or county) pauses the
// county's deliveries, recomputes each village from its sealed postings up
// to its chain head, writes the boards under temporary keys and swaps them
// in, one script per board family, so a reader sees every board entirely
// old or entirely new; for a lone village the township and county boards
// get the village's members replaced. It then records the heads and lets
// deliveries resume after them.
//
// Vetoes 一票否决 (RecordVeto) leave a resident (resident and party boards)
// or household (household boards) out of one period's boards, honoured by
// deliveries through the village's veto set and by rebuilds.
//
// # Reads
//
// Read answers one page of a board and the caller's standing from one
// consistent view. A page (top N) is kept in memory for PageTTL (1 s) with
// its JSON already encoded, since every villager of a village asks for the
// same one; the caller's own rank, points, gap and neighbours are always
// read from Redis, batched: the standings asked for while one batch is on
// its way go together in the next, one pipeline of bounded scripts per
// county. Names come from the directory's cache (masked for villagers),
// and BoardPage encodes itself without reflection. So a new posting
// reaches the caller's own standing within the Sealer's interval plus
// RANKING_INTERVAL, and the shared page within PageTTL more.
//
// # Audit
//
// Every staff write is audited (models/audit) in the transaction that
// makes it: ranking.settings.update, ranking.freeze, ranking.publish,
// ranking.correct (the new version an objection's correction freezes) with
// ranking.objection.resolve, ranking.finalize and ranking.titles.award.
// A rebuild (ranking.rebuild) changes Redis, not SQL: it is audited once
// the new boards are swapped in. Vetoes (ranking.veto.record, .lift) come
// from the awards' sync worker and are audited as the system's, naming
// the staff member whose award decided them.
//
// # Monthly ranking
//
// Freeze computes a finished month from the ledger (the same aggregation a
// rebuild does, so it equals the month's board) and stores it as a version
// with a SHA-256 digest; Publish opens the notice window 公示期; residents
// Object; Resolve rejects or corrects (a correction freezes a new version,
// never edits one); Finalize closes it after the window and awards titles by
// the village's rules. ExportExcel, RenderNotice and RenderRedBlack produce
// the workbook and the A4 notices, with masked names.
package ranking
